package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
)

// sparseIndex is the in-memory copy of an index file. Readers look entries
// up concurrently under mu; the writer (holding Log.mu) mutates.
//
// The file is written only by persist, and held open only while it is:
// an index holds no file descriptor between persists, so a partition costs
// one descriptor per segment (its .log), not three. Entries added since
// the last persist wait in memory (pending) until the segment is synced,
// finished or closed; after a crash they are missing from the file, which
// is what recovery expects of any segment it rescans (the active one and
// those above the recovery point), and a segment below it was persisted
// before the recovery point passed it (syncRolled). A truncation or
// rebuild that shrinks the entries marks the file for a rewrite from
// memory at the next persist instead of cutting it at once.
type sparseIndex[E any] struct {
	fs    FS
	path  string
	codec *indexCodec[E]

	mu      sync.RWMutex // guards entries
	entries []E

	// fmu guards what follows and the file's I/O: persist may run in the
	// background (syncRolled) while the writer adds to another index.
	fmu     sync.Mutex
	pending []byte // encoded entries after the file's, not yet written
	rewrite bool   // the file no longer matches a prefix of entries
	retired bool   // the segment is gone or its names reused: never write
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

func (x *sparseIndex[E]) init(fs FS, path string, codec *indexCodec[E]) {
	x.fs, x.path, x.codec = fs, path, codec
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

// add appends e in memory; persist puts it in the file.
func (x *sparseIndex[E]) add(e E) {
	x.mu.Lock()
	x.entries = append(x.entries, e)
	x.mu.Unlock()
	x.fmu.Lock()
	x.pending = x.codec.put(x.pending, e)
	x.fmu.Unlock()
}

// persist writes the entries the file lacks (all of them after a
// rewrite) with one Write and fsyncs it, opening and closing the file
// around that. A full disk is not an error: the entries stay in memory for
// the next persist, which rewrites the file (a short write may have left
// part of them), and recovery copes with an index that lacks entries.
func (x *sparseIndex[E]) persist() error {
	x.fmu.Lock()
	defer x.fmu.Unlock()
	if x.retired || (!x.rewrite && len(x.pending) == 0) {
		return nil
	}
	if x.rewrite && len(x.pending) == 0 && x.len() == 0 {
		// Rewriting an empty index over an empty file (a rescanned
		// segment that holds nothing, the common case at start-up after a
		// crash with many idle partitions) changes nothing: no write, no
		// fsync.
		if fi, err := x.fs.Stat(x.path); err == nil && fi.Size() == 0 {
			x.rewrite = false
			return nil
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	data := x.pending
	if x.rewrite {
		flags |= os.O_TRUNC
		x.mu.RLock()
		data = make([]byte, 0, len(x.entries)*x.codec.entrySize)
		for _, e := range x.entries {
			data = x.codec.put(data, e)
		}
		x.mu.RUnlock()
	}
	f, err := x.fs.OpenFile(x.path, flags, filePerm)
	if err == nil {
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		if isNoSpace(err) {
			x.rewrite = true
			return nil
		}
		return fmt.Errorf("storage: writing %s: %w", x.path, err)
	}
	x.pending, x.rewrite = x.pending[:0], false
	return nil
}

// retire stops every later write: the segment's files are being removed,
// renamed or replaced, and a write by path would create or damage a file
// that is no longer this index's.
func (x *sparseIndex[E]) retire() {
	x.fmu.Lock()
	x.retired = true
	x.pending = nil
	x.fmu.Unlock()
}

// reset drops every entry; the file is rewritten (emptied, or with the
// entries added since) at the next persist, whatever it held.
func (x *sparseIndex[E]) reset() {
	x.mu.Lock()
	x.entries = x.entries[:0:0]
	x.mu.Unlock()
	x.fmu.Lock()
	x.pending, x.rewrite = x.pending[:0], true
	x.fmu.Unlock()
}

// truncateRel drops the entries whose relative offset is ≥ rel.
func (x *sparseIndex[E]) truncateRel(rel uint32) {
	x.mu.RLock()
	n := len(x.entries)
	for n > 0 && x.codec.rel(x.entries[n-1]) >= rel {
		n--
	}
	x.mu.RUnlock()
	x.truncateLen(n)
}

// truncateLen keeps the first n entries. Entries only in pending are
// dropped from it; cutting into those the file has means a rewrite.
func (x *sparseIndex[E]) truncateLen(n int) {
	x.mu.Lock()
	cut := len(x.entries) - n
	if cut <= 0 {
		x.mu.Unlock()
		return
	}
	x.entries = x.entries[:n]
	x.mu.Unlock()
	x.fmu.Lock()
	if drop := cut * x.codec.entrySize; drop <= len(x.pending) {
		x.pending = x.pending[:len(x.pending)-drop]
	} else {
		x.pending, x.rewrite = x.pending[:0], true
	}
	x.fmu.Unlock()
}

// load reads the whole file and checks it is a whole number of strictly
// increasing entries. On error the in-memory entries are left empty.
func (x *sparseIndex[E]) load() error {
	f, err := x.fs.OpenFile(x.path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size%int64(x.codec.entrySize) != 0 {
		return fmt.Errorf("%w: %s size %d is not a multiple of %d", ErrCorrupt, x.codec.name, size, x.codec.entrySize)
	}
	buf := make([]byte, size)
	if n, err := f.ReadAt(buf, 0); n != len(buf) {
		return fmt.Errorf("storage: reading %s: %w", x.path, err)
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
