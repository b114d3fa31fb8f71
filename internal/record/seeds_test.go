package record

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// fuzzSeeds are the checked-in starting points of the record fuzz targets:
// batches of every codec, idempotent and not, and a truncated one.
func fuzzSeeds() map[string][][]byte {
	var validate, filter [][]byte
	for codec := int8(0); codec <= 4; codec++ {
		b := recordtest.Simple(5, 1000)
		b.Codec = codec
		validate = append(validate, b.Encode())
		filter = append(filter, filterBatch(codec, 1))
	}
	idem := buildBatch(4, 3, 0)
	validate = append(validate, idem, idem[:len(idem)-3])
	return map[string][][]byte{"FuzzRecordValidate": validate, "FuzzRecordFilter": filter}
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
		for i, b := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if target == "FuzzRecordFilter" {
				content += "byte('U')\n"
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
