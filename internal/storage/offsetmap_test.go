package storage

import (
	"fmt"
	"testing"
)

func TestStorageOffsetMap(t *testing.T) {
	const slots = 1000
	m := NewOffsetMap(slots*offsetMapSlotSize + 5) // a partial slot is not used
	if m.Memory() != slots*offsetMapSlotSize || m.Capacity() != 900 || m.BufferCap() != 0 {
		t.Fatalf("memory %d capacity %d buffer %d", m.Memory(), m.Capacity(), m.BufferCap())
	}
	for round := 0; round < 3; round++ {
		m.Reset()
		if m.Len() != 0 || m.BufferCap() != m.Memory() {
			t.Fatalf("round %d: after Reset %d keys, buffer %d", round, m.Len(), m.BufferCap())
		}
		key := func(i int) KeyHash { return HashKey([]byte(fmt.Sprintf("r%d-key-%d", round, i))) }
		for i := 0; i < m.Capacity(); i++ {
			h := key(i)
			if !m.Put(&h, int64(i)) {
				t.Fatalf("round %d: Put %d refused at %d keys", round, i, m.Len())
			}
		}
		if !m.Full() || m.Utilization() != 1 {
			t.Fatalf("round %d: not full at %d keys", round, m.Len())
		}
		h := key(m.Capacity())
		if m.Put(&h, 1) {
			t.Fatalf("round %d: a new key fit in a full map", round)
		}
		if _, ok := m.Get(&h); ok {
			t.Fatalf("round %d: refused key found", round)
		}
		// Keys already in it still update.
		for i := 0; i < m.Capacity(); i += 3 {
			h := key(i)
			if !m.Put(&h, int64(10000+i)) {
				t.Fatalf("round %d: update of key %d refused", round, i)
			}
		}
		for i := 0; i < m.Capacity(); i++ {
			h := key(i)
			want := int64(i)
			if i%3 == 0 {
				want += 10000
			}
			if got, ok := m.Get(&h); !ok || got != want {
				t.Fatalf("round %d: Get(key %d) = %d %v, want %d", round, i, got, ok, want)
			}
		}
		old := HashKey([]byte(fmt.Sprintf("r%d-key-%d", round-1, 0)))
		if _, ok := m.Get(&old); ok && round > 0 {
			t.Fatalf("round %d: a key of the previous round survived Reset", round)
		}
		if p := m.ProbesPerLookup(); p < 1 || p > 60 {
			t.Fatalf("round %d: %.1f probes per lookup", round, p)
		}
	}
	// Offset 0 is a value like any other, not an empty slot.
	m.Reset()
	h := HashKey([]byte("k"))
	m.Put(&h, 0)
	if off, ok := m.Get(&h); !ok || off != 0 || m.Len() != 1 {
		t.Fatalf("offset 0: %d %v", off, ok)
	}
}
