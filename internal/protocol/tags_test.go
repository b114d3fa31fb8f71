package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestProtocolSkipTags(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		rest []byte // nil: an error
	}{
		{"empty section", []byte{0, 9}, []byte{9}},
		{"two fields", []byte{2, 0, 3, 'a', 'b', 'c', 5, 0, 9}, []byte{9}},
		{"multi-byte tag and size", append([]byte{1, 0x80, 0x01, 0x81, 0x01}, make([]byte, 129)...), []byte{}},
		{"nothing", nil, nil},
		{"count above the bytes left", []byte{3, 0, 0, 0, 0}, nil},
		{"huge count", []byte{0xff, 0xff, 0xff, 0xff, 0x07, 0, 0}, nil},
		{"count above int32", []byte{0x80, 0x80, 0x80, 0x80, 0x10}, nil},
		{"overlong varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, nil},
		{"field size past the end", []byte{1, 0, 50, 1}, nil},
		{"missing size", []byte{1, 0}, nil},
		{"tag varint cut", []byte{1, 0x80}, nil},
	}
	for _, tc := range cases {
		rest, err := SkipTags(tc.in)
		if tc.rest == nil {
			if err == nil {
				t.Errorf("%s: no error, rest %x", tc.name, rest)
			}
			continue
		}
		if err != nil || !bytes.Equal(rest, tc.rest) {
			t.Errorf("%s: rest %x err %v, want %x", tc.name, rest, err, tc.rest)
		}
	}
	if _, err := SkipTags([]byte{1, 0, 50, 1}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short field: %v", err)
	}
}

// FuzzProtocolSkipTags checks that a section that parses is a prefix of its
// input that parses alone to nothing and is independent of what follows.
func FuzzProtocolSkipTags(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{2, 0, 3, 'a', 'b', 'c', 5, 0, 9})
	f.Add([]byte{1, 0, 50, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		rest, err := SkipTags(b)
		if err != nil {
			return
		}
		if len(rest) > len(b) || !bytes.Equal(rest, b[len(b)-len(rest):]) {
			t.Fatalf("rest %x is not a suffix of %x", rest, b)
		}
		section := b[:len(b)-len(rest)]
		if alone, err := SkipTags(section); err != nil || len(alone) != 0 {
			t.Fatalf("section %x alone: rest %x err %v", section, alone, err)
		}
		more := append(append([]byte(nil), section...), 0xde, 0xad)
		if r, err := SkipTags(more); err != nil || !bytes.Equal(r, []byte{0xde, 0xad}) {
			t.Fatalf("section %x then more: rest %x err %v", section, r, err)
		}
	})
}
