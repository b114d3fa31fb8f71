package bench

import "testing"

func TestBenchSeqSetCounts(t *testing.T) {
	var s SeqSet
	s.Mark(0, 63, 64, 1000)
	s.Mark(63, 1000, 1000)
	s.Mark()
	if u, d := s.Counts(); u != 4 || d != 3 {
		t.Fatalf("unique %d, duplicates %d; want 4 and 3", u, d)
	}
}
