package bench

import (
	"slices"
	"sync"
)

// SeqSet counts the distinct sequence numbers (>= 0) it is given and the
// repeats among them: a bit per sequence number, safe for concurrent use.
// The OMB runners keep one per subscription, to tell what every
// subscription missed or received twice.
type SeqSet struct {
	mu         sync.Mutex
	seen       []uint64
	unique     int64
	duplicates int64
}

// Mark records seqs.
func (s *SeqSet) Mark(seqs ...int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range seqs {
		w, bit := int(q/64), uint64(1)<<(q%64)
		if w >= len(s.seen) {
			s.seen = slices.Grow(s.seen, w+1-len(s.seen))[:w+1]
		}
		if s.seen[w]&bit != 0 {
			s.duplicates++
			continue
		}
		s.seen[w] |= bit
		s.unique++
	}
}

// Counts returns how many distinct sequence numbers were marked and how
// many marks repeated one.
func (s *SeqSet) Counts() (unique, duplicates int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unique, s.duplicates
}
