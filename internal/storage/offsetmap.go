package storage

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"math/bits"
)

// OffsetMap maps record keys to the latest offset seen for them, in a fixed
// amount of memory however many keys the log holds (Kafka's SkimpyOffsetMap,
// sized by log.cleaner.dedupe.buffer.size / log.cleaner.threads). The log
// cleaner fills it over a log's dirty section and stops where it is full.
//
// It is one []byte of slots, open addressing with linear probing. A key is
// stored as its MD5 digest, so two keys collide only if their digests do
// (the cleaner would then keep just the newer of the two records). Layout
// of a slot:
//
//	offset  size  field
//	     0    16  MD5 of the key
//	    16     8  offset + 1, big-endian; 0 marks an empty slot
//
// At most loadFactor of the slots are filled, which keeps probe sequences
// short. Not safe for concurrent use.
type OffsetMap struct {
	memory  int    // bytes allowed
	buf     []byte // allocated on first use
	slots   int
	entries int
	limit   int // entries allowed: slots × loadFactor

	// Statistics since the last Reset.
	lookups, probes int64
}

const (
	offsetMapHashSize = md5.Size
	offsetMapSlotSize = offsetMapHashSize + 8
	offsetMapLoad     = 0.9
)

// NewOffsetMap returns a map using at most memory bytes (at least one
// slot). The memory is allocated when the map is first reset.
func NewOffsetMap(memory int) *OffsetMap {
	slots := max(memory/offsetMapSlotSize, 2)
	return &OffsetMap{memory: slots * offsetMapSlotSize, slots: slots, limit: max(int(float64(slots)*offsetMapLoad), 1)}
}

// Reset empties the map, allocating its buffer the first time.
func (m *OffsetMap) Reset() {
	if m.buf == nil {
		m.buf = make([]byte, m.memory)
	} else if m.entries > 0 {
		clear(m.buf)
	}
	m.entries, m.lookups, m.probes = 0, 0, 0
}

// Memory is the size of the map's buffer: all the memory its entries use,
// however many there are.
func (m *OffsetMap) Memory() int { return m.memory }

// BufferCap is the capacity of the allocated buffer (0 before the first
// Reset); it never exceeds Memory.
func (m *OffsetMap) BufferCap() int { return cap(m.buf) }

// Len is the number of keys in the map.
func (m *OffsetMap) Len() int { return m.entries }

// Capacity is the number of keys the map takes before it is full.
func (m *OffsetMap) Capacity() int { return m.limit }

// Full reports whether a key not yet in the map would not fit.
func (m *OffsetMap) Full() bool { return m.entries >= m.limit }

// Utilization is the share of the map's capacity in use.
func (m *OffsetMap) Utilization() float64 { return float64(m.entries) / float64(m.limit) }

// ProbesPerLookup is the mean number of slots looked at by each Put or Get
// since the last Reset (1 is ideal).
func (m *OffsetMap) ProbesPerLookup() float64 {
	if m.lookups == 0 {
		return 0
	}
	return float64(m.probes) / float64(m.lookups)
}

// KeyHash is the digest the map stores for a key.
type KeyHash [offsetMapHashSize]byte

// HashKey digests a record key.
func HashKey(key []byte) KeyHash { return md5.Sum(key) }

// find returns the position of the slot holding h, or of the empty slot
// where it would go (found false).
func (m *OffsetMap) find(h *KeyHash) (pos int, found bool) {
	hi, _ := bits.Mul64(binary.LittleEndian.Uint64(h[:8]), uint64(m.slots))
	i := int(hi)
	m.lookups++
	for {
		m.probes++
		pos = i * offsetMapSlotSize
		slot := m.buf[pos : pos+offsetMapSlotSize]
		if binary.BigEndian.Uint64(slot[offsetMapHashSize:]) == 0 {
			return pos, false
		}
		if bytes.Equal(slot[:offsetMapHashSize], h[:]) {
			return pos, true
		}
		if i++; i == m.slots {
			i = 0
		}
	}
}

// Put records offset as the latest for the key hashed to h. It returns
// false, changing nothing, when the key is new and the map is full.
func (m *OffsetMap) Put(h *KeyHash, offset int64) bool {
	pos, found := m.find(h)
	if !found {
		if m.entries >= m.limit {
			return false
		}
		copy(m.buf[pos:], h[:])
		m.entries++
	}
	binary.BigEndian.PutUint64(m.buf[pos+offsetMapHashSize:], uint64(offset)+1)
	return true
}

// Get returns the offset recorded for the key hashed to h.
func (m *OffsetMap) Get(h *KeyHash) (offset int64, ok bool) {
	if m.entries == 0 {
		return -1, false
	}
	pos, found := m.find(h)
	if !found {
		return -1, false
	}
	return int64(binary.BigEndian.Uint64(m.buf[pos+offsetMapHashSize:])) - 1, true
}
