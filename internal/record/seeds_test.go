package record

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// fuzzSeeds are the checked-in starting points of the record fuzz targets,
// each a list of the target's arguments: batches of every codec, idempotent
// and not, a truncated one; the malformed records of framingCases, whole
// batches with a valid CRC (FuzzRecordValidate) and as records to seal
// (FuzzRecordValidateSealed), well-formed records with headers and a
// record larger than the decompression window, and compressed bodies as
// they are.
func fuzzSeeds() map[string][][]any {
	var validate, sealedRecs, filter [][]any
	for codec := int8(0); codec <= 4; codec++ {
		b := recordtest.Simple(5, 1000)
		b.Codec = codec
		validate = append(validate, []any{b.Encode()})
		filter = append(filter, []any{filterBatch(codec, 1), byte('U')})
	}
	idem := buildBatch(4, 3, 0)
	validate = append(validate, []any{idem}, []any{idem[:len(idem)-3]})

	for i, c := range framingCases() {
		count := c.count
		if count == 0 {
			count = 5
		}
		codec := Codec(i % 5) // each case with one codec, every codec in turn
		validate = append(validate, []any{sealed(codec, count, c.recs)})
		sealedRecs = append(sealedRecs, []any{c.recs, uint16(count), uint8(codec), false})
	}
	headers := recordtest.Records(
		recordtest.Raw(0, []byte("k"), []byte("v")).WithHeader("a", []byte("1")).WithHeader("b", nil),
		recordtest.Raw(1, nil, make([]byte, 40000)),
		recordtest.Raw(2, []byte{}, nil).WithHeader("", []byte{}),
	)
	for codec := CodecNone; codec <= CodecZstd; codec++ {
		validate = append(validate, []any{sealed(codec, 3, headers)})
		sealedRecs = append(sealedRecs, []any{headers, uint16(3), uint8(codec), false})
		if codec != CodecNone {
			b := sealed(codec, 3, headers)
			sealedRecs = append(sealedRecs, []any{b[HeaderSize:], uint16(3), uint8(codec), true})
		}
	}
	return map[string][][]any{"FuzzRecordValidate": validate, "FuzzRecordValidateSealed": sealedRecs, "FuzzRecordFilter": filter}
}

// fuzzValue is v as the fuzz corpus file format writes it.
func fuzzValue(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("[]byte(%q)", v)
	case byte:
		return fmt.Sprintf("byte(%q)", v)
	case uint16:
		return fmt.Sprintf("uint16(%d)", v)
	case bool:
		return fmt.Sprintf("bool(%t)", v)
	}
	panic(fmt.Sprintf("fuzz seed of type %T", v))
}

// TestRecordFuzzSeeds writes the seed corpora when GREGOR_WRITE_FUZZ_SEEDS=1
// and otherwise checks they are checked in.
func TestRecordFuzzSeeds(t *testing.T) {
	for target, seeds := range fuzzSeeds() {
		dir := filepath.Join("testdata", "fuzz", target)
		if os.Getenv("GREGOR_WRITE_FUZZ_SEEDS") != "1" {
			if entries, err := os.ReadDir(dir); err != nil || len(entries) < len(seeds) {
				t.Fatalf("seed corpus %s has %d files (%v); regenerate with GREGOR_WRITE_FUZZ_SEEDS=1", dir, len(entries), err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, args := range seeds {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			for _, a := range args {
				b.WriteString(fuzzValue(a) + "\n")
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
