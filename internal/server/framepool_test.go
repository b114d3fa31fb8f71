package server

import "testing"

func TestServerFramePoolClasses(t *testing.T) {
	for _, n := range []int{1, 4096, 4097, 1 << 20, 8 << 20} {
		b := getFrame(n)
		if len(b) != n || cap(b) < n {
			t.Fatalf("getFrame(%d): len %d cap %d", n, len(b), cap(b))
		}
		putFrame(b)
		if again := getFrame(n); len(again) != n {
			t.Fatalf("recycled frame for %d has len %d", n, len(again))
		}
	}
	big := getFrame(9 << 20) // above the largest class: not pooled
	if len(big) != 9<<20 {
		t.Fatal("large frame")
	}
	putFrame(big) // must not panic or pool it
}
