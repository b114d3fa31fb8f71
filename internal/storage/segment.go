package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gregor-dev/gregor/internal/record"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"

	fileFlags = os.O_RDWR | os.O_CREATE | os.O_APPEND
	filePerm  = 0o644
)

// segmentPath names a segment file: the base offset in 20 digits, then the
// suffix, as Kafka does (00000000000000000000.log).
func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// parseSegmentName splits "00000000000000000042.index" into 42 and ".index".
func parseSegmentName(name string) (base int64, suffix string, ok bool) {
	i := strings.IndexByte(name, '.')
	if i != 20 {
		return 0, "", false
	}
	switch suffix = name[i:]; suffix {
	case logSuffix, indexSuffix, timeIndexSuffix:
	default:
		return 0, "", false
	}
	base, err := strconv.ParseInt(name[:i], 10, 64)
	if err != nil || base < 0 {
		return 0, "", false
	}
	return base, suffix, true
}

// A segment is one .log file of the partition and its two indexes.
//
// The .log file is RecordBatch v2 batches back to back, exactly as the record
// package lays them out, with base offsets increasing contiguously from the
// segment's base offset, except for gaps where compaction removed batches
// (in a segment it rewrote, see clean.go, or in the leader's log a follower
// copies); the last batch ends where the next segment begins (recovery
// checks it). No segment header, no padding, no trailer. Each batch is
// written with one Write, so a crash can only tear the last one.
//
// Readers use size, readMaxTs, the indexes and refs without Log.mu;
// everything else is the writer's and guarded by Log.mu.
type segment struct {
	base int64
	log  File
	idx  offsetIndex
	tidx timeIndex

	size atomic.Int64 // bytes of whole batches in log; published after they are written
	refs atomic.Int32 // the log's reference plus in-flight reads; 0 = retired
	// readMaxTs is maxTs for readers, stored after the size that covers
	// the batch carrying it, so a reader that loads it first and then the
	// size finds that batch.
	readMaxTs atomic.Int64

	// Guarded by Log.mu.
	next            int64 // offset after the last batch
	maxTs           int64 // largest batch MaxTimestamp, -1 if none
	maxTsOff        int64 // base offset of the first batch carrying maxTs
	bytesSinceIndex int64 // log bytes since the last offset index entry
	rollBase        int64 // unix ms the segment.ms clock starts from; -1 while empty
	dirty           bool  // written since the last fsync
	retiredAt       int64 // unix ms it was removed from the log (graveyard)
	deletedNames    bool  // retired with its files renamed *.deleted
}

// openSegment opens (creating where absent, emptying if truncate) the .log
// file of a segment; its index files are held open only by persist (see
// sparseIndex), and created or emptied here if truncate. missingIndex
// reports an index file that did not exist.
func openSegment(fs FS, dir string, base int64, truncate bool) (s *segment, missingIndex bool, err error) {
	s = &segment{base: base, next: base, maxTs: -1, maxTsOff: -1, rollBase: -1}
	s.initIndexes(fs, func(suffix string) string { return segmentPath(dir, base, suffix) })
	s.refs.Store(1)
	s.readMaxTs.Store(-1)
	flags := fileFlags
	if truncate {
		// The index files are created (empty) now, not at their first
		// persist, so that the caller's directory sync makes their names
		// durable with the .log's.
		flags |= os.O_TRUNC
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			f, err := fs.OpenFile(segmentPath(dir, base, suffix), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
			if err != nil {
				return nil, false, err
			}
			f.Close()
		}
	} else {
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			if _, err := fs.Stat(segmentPath(dir, base, suffix)); err != nil {
				missingIndex = true
			}
		}
	}
	if s.log, err = fs.OpenFile(segmentPath(dir, base, logSuffix), flags, filePerm); err != nil {
		return nil, false, err
	}
	return s, missingIndex, nil
}

// initIndexes names the index files by path(suffix).
func (s *segment) initIndexes(fs FS, path func(suffix string) string) {
	s.idx.init(fs, path(indexSuffix), offsetCodec)
	s.tidx.init(fs, path(timeIndexSuffix), timeCodec)
}

func (s *segment) acquire() bool {
	for {
		r := s.refs.Load()
		if r <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

func (s *segment) release() { s.refs.Add(-1) }

// indexBatch updates the indexes and max timestamp for the batch h written
// at pos. The append path and every recovery scan go through it, so a
// rebuilt index equals the one appends would have produced.
func (s *segment) indexBatch(h *record.Header, pos int64, interval int64) {
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOff = h.MaxTimestamp, h.BaseOffset
	}
	if s.bytesSinceIndex >= interval && pos > 0 {
		s.idx.add(offsetEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)})
		if s.maxTs > s.tidx.lastTs() {
			s.tidx.add(timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOff - s.base)})
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += h.Size()
	s.next = h.NextOffset()
}

// persistIndexes writes and fsyncs what the index files lack.
func (s *segment) persistIndexes() error {
	return errors.Join(s.idx.persist(), s.tidx.persist())
}

// retireIndexes stops all writes to the index files (see sparseIndex.retire).
func (s *segment) retireIndexes() {
	s.idx.retire()
	s.tidx.retire()
}

func (s *segment) resetIndexes() {
	s.maxTs, s.maxTsOff, s.bytesSinceIndex, s.next = -1, -1, 0, s.base
	s.idx.reset()
	s.tidx.reset()
}

// append writes one batch whose base offset is already set.
func (s *segment) append(batch []byte, h *record.Header, interval int64) error {
	pos := s.size.Load()
	if _, err := s.log.Write(batch); err != nil {
		return err
	}
	s.dirty = true
	s.indexBatch(h, pos, interval) // in memory: written at the next sync
	s.publish(pos + int64(len(batch)))
	return nil
}

// publish makes size bytes and the max timestamp visible to readers.
func (s *segment) publish(size int64) {
	s.size.Store(size)
	s.readMaxTs.Store(s.maxTs)
}

// finish adds the final time index entry (see timeIndex) before the segment
// stops being the active one or the log closes.
func (s *segment) finish() {
	if s.maxTs > s.tidx.lastTs() {
		s.tidx.add(timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOff - s.base)})
		s.dirty = true
	}
}

// sync fsyncs the .log if it was written since the last fsync, and
// persists the indexes' new entries.
func (s *segment) sync() error {
	if s.dirty {
		if err := s.log.Sync(); err != nil {
			return err
		}
		s.dirty = false
	}
	return s.persistIndexes()
}

// close closes the .log; index entries not persisted are dropped (callers
// that keep the segment sync it first).
func (s *segment) close() error {
	s.retireIndexes()
	return s.log.Close()
}

func removeSegmentFiles(fs FS, dir string, base int64) error {
	return removeFiles(fs, dir, base, "")
}

// deletedSuffix marks the files of a segment removed from the log and
// waiting for FileDeleteDelayMs (Kafka's name). Recovery deletes them
// (isLeftover).
const deletedSuffix = ".deleted"

// renameDeleted renames the files of segment base to *.deleted, freeing
// their names.
func renameDeleted(fs FS, dir string, base int64) error {
	var errs []error
	for _, suffix := range segmentSuffixes {
		name := segmentPath(dir, base, suffix)
		if err := fs.Rename(name, name+deletedSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeFiles removes the files of segment base whose names end in
// tail ("" or deletedSuffix) after their segment suffix.
func removeFiles(fs FS, dir string, base int64, tail string) error {
	var errs []error
	for _, suffix := range segmentSuffixes {
		if err := fs.Remove(segmentPath(dir, base, suffix) + tail); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// errTorn marks a batch that does not fit in the bytes that remain.
var errTorn = errors.New("storage: torn batch")

// header reads and decodes the header of the batch at pos, checking the
// whole batch lies before end. buf must hold record.HeaderSize bytes.
func (s *segment) header(buf []byte, pos, end int64) (record.Header, error) {
	if end-pos < record.HeaderSize {
		return record.Header{}, errTorn
	}
	if n, err := s.log.ReadAt(buf[:record.HeaderSize], pos); n < record.HeaderSize {
		if err == nil || err == io.EOF {
			err = errTorn
		}
		return record.Header{}, err
	}
	h, err := record.ReadHeader(buf)
	if err != nil {
		return h, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if h.Length < record.HeaderSize-record.LogOverhead || h.LastOffsetDelta < 0 {
		return h, fmt.Errorf("%w: batch at %d: length %d, last offset delta %d", ErrCorrupt, pos, h.Length, h.LastOffsetDelta)
	}
	if pos+h.Size() > end {
		return h, errTorn
	}
	return h, nil
}

// readBatch returns a copy of the batch h at pos.
func (s *segment) readBatch(h *record.Header, pos int64) ([]byte, error) {
	b := make([]byte, h.Size())
	if n, err := s.log.ReadAt(b, pos); n < len(b) {
		return nil, fmt.Errorf("%w: reading batch at %d of %s: %w", ErrStorage, pos, s.log.Name(), err)
	}
	return b, nil
}

// seek finds the first batch at or after pos whose last offset is ≥ offset.
// found is false when the segment (up to end) has none.
func (s *segment) seek(buf []byte, offset, end int64) (h record.Header, pos int64, found bool, err error) {
	pos = int64(s.idx.lookup(offset - s.base).pos)
	for pos < end {
		if h, err = s.header(buf, pos, end); err != nil {
			return h, pos, false, s.readErr(err, pos)
		}
		if h.LastOffset() >= offset {
			return h, pos, true, nil
		}
		pos += h.Size()
	}
	return h, pos, false, nil
}

// findTimestamp returns a copy of the first batch at or after offset from
// (and before file position end) whose max timestamp is ≥ ts; found is
// false if the segment has none. The time index skips the batches before
// the last entry at or below ts: every one of them has a smaller max.
func (s *segment) findTimestamp(buf []byte, ts, from, end int64) (batch []byte, found bool, err error) {
	if e, ok := s.tidx.lookup(ts); ok {
		from = max(from, s.base+int64(e.rel))
	}
	h, pos, found, err := s.seek(buf, from, end)
	for found && err == nil {
		if h.MaxTimestamp >= ts {
			b, err := s.readBatch(&h, pos)
			return b, err == nil, err
		}
		if pos += h.Size(); pos >= end {
			break
		}
		if h, err = s.header(buf, pos, end); err != nil {
			err = s.readErr(err, pos)
		}
	}
	return nil, false, err
}

func (s *segment) readErr(err error, pos int64) error {
	if errors.Is(err, errTorn) || errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%w: %s at %d: %w", ErrCorrupt, s.log.Name(), pos, err)
	}
	return fmt.Errorf("%w: reading %s: %w", ErrStorage, s.log.Name(), err)
}

// read serves Log.Read within this segment; found is false when no batch in
// it reaches offset.
func (s *segment) read(offset int64, maxBytes int64, maxOffset int64, minOneBatch bool) (res ReadResult, found bool, err error) {
	end := s.size.Load()
	buf := make([]byte, record.HeaderSize)
	h, pos, found, err := s.seek(buf, offset, end)
	if err != nil || !found {
		return ReadResult{FirstOffset: -1}, found, err
	}
	start, firstBase, total := pos, h.BaseOffset, int64(0)
	for {
		if h.NextOffset() > maxOffset {
			break
		}
		if total+h.Size() > maxBytes {
			if total == 0 && minOneBatch {
				total = h.Size()
			}
			break
		}
		total += h.Size()
		pos += h.Size()
		if pos >= end {
			break
		}
		if h, err = s.header(buf, pos, end); err != nil {
			return ReadResult{FirstOffset: -1}, true, s.readErr(err, pos)
		}
	}
	if total == 0 {
		return ReadResult{FirstOffset: -1}, true, nil
	}
	return ReadResult{Slice: Slice{File: s.log, Pos: start, Size: total}, FirstOffset: firstBase}, true, nil
}

// relOK reports whether offset can be stored relative to the base (Kafka
// keeps relative offsets within int32).
func (s *segment) relOK(offset int64) bool { return offset-s.base <= math.MaxInt32 }
