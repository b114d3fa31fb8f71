package storage

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// sparseIndex is the in-memory copy of an index file plus the bytes of
// entries not yet written to it. Entries only ever grow at the end, except
// when truncation or a rebuild shrinks them. The writer (holding Log.mu)
// mutates; readers look entries up concurrently under mu.
type sparseIndex[E any] struct {
	f     File
	codec *indexCodec[E]

	mu      sync.RWMutex // guards entries
	entries []E

	pending []byte // encoded, not yet written; writer only
}

// indexCodec describes one index file format.
type indexCodec[E any] struct {
	name      string
	entrySize int
	put       func(b []byte, e E) []byte
	get       func(b []byte) E
	rel       func(e E) uint32     // the entry's offset relative to the segment base
	ascending func(prev, e E) bool // entries must be strictly increasing
}

func (x *sparseIndex[E]) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.entries)
}

func (x *sparseIndex[E]) last() (E, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.entries) == 0 {
		var zero E
		return zero, false
	}
	return x.entries[len(x.entries)-1], true
}

// add appends e in memory; writeOut puts it in the file.
func (x *sparseIndex[E]) add(e E) {
	x.mu.Lock()
	x.entries = append(x.entries, e)
	x.mu.Unlock()
	x.pending = x.codec.put(x.pending, e)
}

// writeOut writes the pending entries with one Write.
func (x *sparseIndex[E]) writeOut() error {
	if len(x.pending) == 0 {
		return nil
	}
	_, err := x.f.Write(x.pending)
	x.pending = x.pending[:0]
	return err
}

// reset drops every entry, in memory and in the file.
func (x *sparseIndex[E]) reset() error {
	x.mu.Lock()
	x.entries = x.entries[:0:0]
	x.mu.Unlock()
	x.pending = x.pending[:0]
	return x.f.Truncate(0)
}

// truncateRel drops the entries whose relative offset is ≥ rel.
func (x *sparseIndex[E]) truncateRel(rel uint32) error {
	x.mu.Lock()
	n := len(x.entries)
	for n > 0 && x.codec.rel(x.entries[n-1]) >= rel {
		n--
	}
	changed := n != len(x.entries)
	x.entries = x.entries[:n]
	x.mu.Unlock()
	if !changed {
		return nil
	}
	return x.f.Truncate(int64(n * x.codec.entrySize))
}

// load reads the whole file and checks it is a whole number of strictly
// increasing entries. On error the in-memory entries are left empty.
func (x *sparseIndex[E]) load() error {
	fi, err := x.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size%int64(x.codec.entrySize) != 0 {
		return fmt.Errorf("%w: %s size %d is not a multiple of %d", ErrCorrupt, x.codec.name, size, x.codec.entrySize)
	}
	buf := make([]byte, size)
	if n, err := x.f.ReadAt(buf, 0); n != len(buf) {
		return fmt.Errorf("storage: reading %s: %w", x.f.Name(), err)
	}
	entries := make([]E, 0, size/int64(x.codec.entrySize))
	for b := buf; len(b) > 0; b = b[x.codec.entrySize:] {
		e := x.codec.get(b)
		if len(entries) > 0 && !x.codec.ascending(entries[len(entries)-1], e) {
			return fmt.Errorf("%w: %s entry %d out of order", ErrCorrupt, x.codec.name, len(entries))
		}
		entries = append(entries, e)
	}
	x.mu.Lock()
	x.entries = entries
	x.mu.Unlock()
	return nil
}

// The offset index (.index) of a segment is sparse: one entry per
// IndexIntervalBytes of log data, for the batch that starts past the
// interval. The segment's first batch (position 0) has none. Layout of each
// entry, big-endian:
//
//	offset  size  field
//	     0     4  relative offset   batch base offset − segment base offset
//	     4     4  position          byte position of the batch in the .log
//
// Both fields strictly increase. An offset's batch is found from the last
// entry at or below it by scanning batch headers forward.
type offsetEntry struct{ rel, pos uint32 }

const offsetEntrySize = 8

var offsetCodec = &indexCodec[offsetEntry]{
	name:      "offset index",
	entrySize: offsetEntrySize,
	put: func(b []byte, e offsetEntry) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(b, e.rel), e.pos)
	},
	get: func(b []byte) offsetEntry {
		return offsetEntry{binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])}
	},
	rel:       func(e offsetEntry) uint32 { return e.rel },
	ascending: func(p, e offsetEntry) bool { return e.rel > p.rel && e.pos > p.pos },
}

type offsetIndex struct{ sparseIndex[offsetEntry] }

// lookup returns the entry with the largest relative offset ≤ rel, or the
// zero entry (the segment start) if there is none.
func (x *offsetIndex) lookup(rel int64) offsetEntry {
	if rel <= 0 {
		return offsetEntry{}
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	e := x.entries
	lo, hi := 0, len(e) // first entry with e.rel > rel is in [lo, hi]
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int64(e[m].rel) <= rel {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return offsetEntry{}
	}
	return e[lo-1]
}

// The time index (.timeindex) of a segment maps a timestamp to the first
// batch whose max timestamp reached it. An entry is added at most once per
// index interval (when an offset index entry is) and only when the
// segment's running max timestamp has risen since the last entry; rolling or
// closing the segment adds a last entry for its final max, so the last entry
// of a finished segment is its largest timestamp. Layout of each entry,
// big-endian:
//
//	offset  size  field
//	     0     8  timestamp         the segment's max timestamp so far
//	     8     4  relative offset   base offset of the first batch carrying it
//	                                − segment base offset
//
// Both fields strictly increase. Every batch before the entry's has a
// smaller max timestamp.
type timeEntry struct {
	ts  int64
	rel uint32
}

const timeEntrySize = 12

var timeCodec = &indexCodec[timeEntry]{
	name:      "time index",
	entrySize: timeEntrySize,
	put: func(b []byte, e timeEntry) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(b, uint64(e.ts)), e.rel)
	},
	get: func(b []byte) timeEntry {
		return timeEntry{int64(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint32(b[8:])}
	},
	rel:       func(e timeEntry) uint32 { return e.rel },
	ascending: func(p, e timeEntry) bool { return e.ts > p.ts && e.rel > p.rel },
}

type timeIndex struct{ sparseIndex[timeEntry] }

// lookup returns the entry with the largest timestamp ≤ ts; ok is false if
// there is none (search from the segment start).
func (x *timeIndex) lookup(ts int64) (timeEntry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e := x.entries
	lo, hi := 0, len(e)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e[m].ts <= ts {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return timeEntry{}, false
	}
	return e[lo-1], true
}

// lastTs is the timestamp of the last entry, -1 if none.
func (x *timeIndex) lastTs() int64 {
	if e, ok := x.last(); ok {
		return e.ts
	}
	return -1
}

// truncateLen keeps the first n entries, in memory and in the file (which
// a failed write may have left with part of an entry more).
func (x *sparseIndex[E]) truncateLen(n int) error {
	x.mu.Lock()
	x.entries = x.entries[:min(n, len(x.entries))]
	x.mu.Unlock()
	x.pending = x.pending[:0]
	return x.f.Truncate(int64(n * x.codec.entrySize))
}
