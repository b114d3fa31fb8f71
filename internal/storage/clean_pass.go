package storage

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"github.com/gregor-dev/gregor/internal/record"
)

// cleanPass is one run of Log.Clean: the plan it works from and the
// buffers it reuses from segment to segment.
type cleanPass struct {
	l *Log
	*cleanPlan
	o   *CleanOptions
	st  *CleanStats
	end int64 // the mapped range ends here; records at or after it stay

	io         cleanIO
	sc, prefix segmentScanner
	f          record.Filterer
	out        []byte
	bw         *bufio.Writer
}

// buildOffsetMap maps the keys of [firstDirty, uncleanable) to their latest
// offsets and returns where the mapped range ends: uncleanable, or the
// offset of the first record whose key did not fit.
func (cp *cleanPass) buildOffsetMap() (end int64, err error) {
	m, first := cp.o.Map, cp.firstDirty
	m.Reset()
	for _, cs := range cp.segs {
		if cs.next <= first {
			continue
		}
		cp.st.SegmentsRead++
		from := int64(0)
		if first > cs.s.base {
			from = int64(cs.s.idx.lookup(first - cs.s.base).pos)
		}
		cp.sc.reset(cs.s, from, cs.size)
		for {
			h, batch, _, ok, err := cp.sc.next()
			if err != nil {
				return 0, err
			}
			if !ok {
				break
			}
			if h.LastOffset() < first || h.Control() {
				continue
			}
			full := int64(-1)
			err = record.EachRecord(batch, func(r *record.Record) bool {
				if r.Offset < first || r.Key == nil {
					return true
				}
				kh := HashKey(r.Key)
				if !m.Put(&kh, r.Offset) {
					full = r.Offset
					return false
				}
				return true
			})
			if err != nil {
				return 0, fmt.Errorf("storage: %s, batch at offset %d: %w", cs.s.log.Name(), h.BaseOffset, err)
			}
			if full >= 0 {
				cp.st.MapFull = true
				return full, nil
			}
		}
	}
	return cp.uncleanable, nil
}

// cleanSegment rewrites one segment, replacing it if anything changed.
func (cp *cleanPass) cleanSegment(cs cleanSeg) error {
	dropTombstones := cp.now.Sub(cs.mtime).Milliseconds() > cp.o.DeleteRetentionMs
	var removed, batchesRemoved, tombstones int64
	keep := func(r *record.Record) bool {
		if r.Offset >= cp.end {
			return true
		}
		if r.Key == nil {
			return false
		}
		kh := HashKey(r.Key)
		if latest, ok := cp.o.Map.Get(&kh); ok && r.Offset < latest {
			return false
		}
		if r.Value == nil && dropTombstones {
			tombstones++
			return false
		}
		return true
	}
	var w *cleanedWriter
	defer func() {
		if w != nil {
			w.discard()
		}
	}()
	cp.sc.reset(cs.s, 0, cs.size)
	for {
		h, batch, pos, ok, err := cp.sc.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		retainEmpty := pos+h.Size() == cs.size // the segment's last batch
		if h.Idempotent() {
			if last, ok := cp.o.ProducerLastOffsets[h.ProducerID]; ok && last == h.LastOffset() {
				retainEmpty = true
			}
		}
		var fr record.FilterResult
		cp.out, fr, err = cp.f.Filter(cp.out[:0], batch, keep, retainEmpty)
		if err != nil {
			return fmt.Errorf("storage: cleaning %s, batch at offset %d: %w", cs.s.log.Name(), h.BaseOffset, err)
		}
		removed += int64(fr.Removed)
		if fr.Dropped {
			batchesRemoved++
		}
		if !fr.Changed && w == nil {
			continue // an unchanged prefix is copied only if something changes later
		}
		if w == nil {
			if w, err = cp.startCleaned(cs, pos); err != nil {
				return err
			}
		}
		if fr.Dropped {
			continue
		}
		nh, err := record.ReadHeader(cp.out)
		if err != nil {
			return err
		}
		if err := w.add(cp.out, &nh); err != nil {
			return err
		}
	}
	if w == nil {
		return nil // nothing to remove here
	}
	if w.seg.next != cs.next { // cannot be: the last batch is always kept
		return fmt.Errorf("%w: cleaned segment %d would end at %d, the original at %d", ErrCorrupt, cs.s.base, w.seg.next, cs.next)
	}
	if err := w.finish(cs.mtime); err != nil {
		return err
	}
	size := w.pos
	err := cp.l.swapCleaned(cp.cleanPlan, cs)
	w = nil // swapped, or its files removed by swapCleaned
	if errors.Is(err, errSegmentGone) {
		return nil
	}
	if err != nil {
		return err
	}
	st := cp.st
	st.SegmentsRewritten++
	st.SizeBefore += cs.size
	st.SizeAfter += size
	st.RecordsRemoved += removed
	st.BatchesRemoved += batchesRemoved
	st.TombstonesRemoved += tombstones
	return nil
}

// startCleaned opens the replacement of a segment whose batches before
// file position upTo stay as they are, and copies them.
func (cp *cleanPass) startCleaned(cs cleanSeg, upTo int64) (*cleanedWriter, error) {
	if cp.bw == nil {
		cp.bw = bufio.NewWriterSize(nil, scanChunk)
	}
	w, err := newCleanedWriter(cp.l.fs, cp.l.dir, cs.s.base, cp.interval, &cp.io, cp.bw)
	if err != nil {
		return nil, err
	}
	cp.prefix.reset(cs.s, 0, upTo)
	for {
		h, batch, _, ok, err := cp.prefix.next()
		if err == nil && ok {
			err = w.add(batch, &h)
		}
		if err != nil {
			w.discard()
			return nil, err
		}
		if !ok {
			return w, nil
		}
	}
}

// errSegmentGone: the segment was deleted (retention, DeleteRecords) while
// it was being cleaned; its replacement is thrown away.
var errSegmentGone = errors.New("storage: segment deleted while being cleaned")

// swapCleaned puts the finished .cleaned files of cs in place of its files
// and the new segment in place of cs.s in the segment list. On an error
// before the .log is replaced the log is unchanged (its index files may
// be gone from the disk: the next Open rebuilds them) and the .cleaned
// files are removed; after it, the log fails.
func (l *Log) swapCleaned(p *cleanPlan, cs cleanSeg) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, base := cs.s, cs.s.base
	err := l.usable()
	segs := l.segments()
	i := slices.Index(segs, old)
	switch {
	case err != nil:
	case l.cleaner.truncations.Load() != p.truncations:
		err = ErrCleanAborted
	case i < 0:
		err = errSegmentGone
	case i == len(segs)-1:
		err = ErrCleanAborted // truncated into and active again
	}
	if err == nil {
		// From here old's index files are deleted and replaced: it must
		// not write them by name again (if the swap fails, the next Open
		// rebuilds them).
		old.retireIndexes()
		err = l.replaceFiles(base)
	}
	if err != nil {
		removeCleanedFiles(l.fs, l.dir, base)
		return err
	}
	// The new .log is in place: from here the in-memory segment must
	// follow it, or the log fails.
	for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
		if err := l.fs.Rename(cleanedPath(l.dir, base, suffix), segmentPath(l.dir, base, suffix)); err != nil {
			return l.failLocked("clean: install index", err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked("clean", err)
	}
	ns, missing, err := openSegment(l.fs, l.dir, base, false)
	if err != nil {
		return l.failLocked("clean: open cleaned segment", err)
	}
	if _, err := l.loadSegment(ns, missing, math.MaxInt64); err != nil {
		ns.close()
		return l.failLocked("clean: load cleaned segment", err)
	}
	if ns.next != cs.next {
		ns.close()
		return l.failLocked("clean", fmt.Errorf("%w: cleaned segment %d ends at %d, the original at %d", ErrCorrupt, base, ns.next, cs.next))
	}
	segs = slices.Clone(segs)
	segs[i] = ns
	l.setSegmentsLocked(segs)
	l.retireLocked([]*segment{old}, true)
	return nil
}

// replaceFiles deletes the segment's index files and renames its
// .log.cleaned over its .log, syncing the directory in between so that no
// crash can pair the new .log with the old indexes.
func (l *Log) replaceFiles(base int64) error {
	for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
		// Absent if never persisted (a segment rolled moments ago).
		if err := l.fs.Remove(segmentPath(l.dir, base, suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	return l.fs.Rename(cleanedPath(l.dir, base, logSuffix), segmentPath(l.dir, base, logSuffix))
}
