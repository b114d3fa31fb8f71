package storage

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
)

// A full disk is not a broken disk. Every other write or fsync error makes
// the log fail for good (ErrStorage, until Open recovers it from the files):
// after EIO nobody knows what reached the platter. ENOSPC from the write of
// an append is different: the kernel refused the bytes, nothing below them
// changed, and the log knows exactly where the append began. So
// appendLocked undoes the append instead (undoAppendLocked): the .log file
// is truncated back to the end of the last complete batch (the LEO before
// the failed append) and the indexes and the segment's writer state back to
// what they were, and the log is marked full. While it is full, appends
// answer ErrStorage (wrapping ErrNoSpace: KAFKA_STORAGE_ERROR, which
// producers retry) without touching the disk; reads go on as before.
// Once noSpaceRetry has passed since the failure, the next append is the
// probe: it simply tries again, and its success clears the mark. Nothing
// acknowledged is lost (the undone append never was acknowledged, and
// nothing below it moved), and the offsets stay contiguous. If the undo
// itself fails, or an fsync reports ENOSPC (what was written before may be
// lost with it), the log fails for good as after any other error.
//
// Only the append's own writes are covered: ENOSPC while rolling a segment,
// writing a checkpoint or compacting still fails the log until a restart.

// ErrNoSpace marks an append refused because the disk is full; it is
// wrapped with ErrStorage and is not sticky.
var ErrNoSpace = errors.New("storage: no space left on device")

// noSpaceRetry is how long after an ENOSPC the next append waits before it
// tries the disk again; appends in between fail at once.
const noSpaceRetry = time.Second

// isNoSpace reports an error that means the file system is full.
func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// segmentMark is the writer state of a segment before an append, to undo
// it (Log.mu held).
type segmentMark struct {
	size                  int64
	next, maxTs, maxTsOff int64
	bytesSinceIndex       int64
	idxLen, tidxLen       int
	dirty                 bool
}

func (s *segment) mark() segmentMark {
	return segmentMark{
		size: s.size.Load(), next: s.next, maxTs: s.maxTs, maxTsOff: s.maxTsOff,
		bytesSinceIndex: s.bytesSinceIndex, idxLen: s.idx.len(), tidxLen: s.tidx.len(), dirty: s.dirty,
	}
}

// undoAppendLocked takes the segment back to m after a failed append: the
// .log file and both index files are cut back to their lengths at m (a
// failed write may have left part of its bytes), and the in-memory state
// restored. Readers never saw the append: the size is published last.
func (s *segment) undoAppend(m segmentMark) error {
	if err := s.log.Truncate(m.size); err != nil {
		return err
	}
	s.idx.truncateLen(m.idxLen)
	s.tidx.truncateLen(m.tidxLen)
	s.next, s.maxTs, s.maxTsOff, s.bytesSinceIndex, s.dirty = m.next, m.maxTs, m.maxTsOff, m.bytesSinceIndex, m.dirty || s.dirty
	return nil
}

// appendNoSpaceLocked handles an append whose write failed with ENOSPC:
// it undoes it and marks the log full, or fails the log if the undo fails.
func (l *Log) appendNoSpaceLocked(s *segment, m segmentMark, h *record.Header, err error) error {
	if uerr := s.undoAppend(m); uerr != nil {
		return l.failLocked("append", fmt.Errorf("%w (undoing it: %w)", err, uerr))
	}
	full := fmt.Errorf("%w: append at offset %d to %s: %w: %w", ErrStorage, h.BaseOffset, l.dir, ErrNoSpace, err)
	if l.noSpace.Swap(&full) == nil {
		l.logger.Error("storage: disk full, refusing appends until space is back", "dir", l.dir,
			"segment", s.log.Name(), "leo", l.leo.Load(), "err", err)
	}
	l.noSpaceAt = l.nowMs()
	return full
}

// noSpaceLocked is the error for an append while the log is marked full
// and noSpaceRetry has not passed since the last attempt; nil when the
// append should go to the disk.
func (l *Log) noSpaceLocked() error {
	p := l.noSpace.Load()
	if p == nil || l.nowMs()-l.noSpaceAt >= noSpaceRetry.Milliseconds() {
		return nil
	}
	return *p
}

// appendSucceededLocked clears the full mark after an append went through.
func (l *Log) appendSucceededLocked() {
	if l.noSpace.Swap(nil) != nil {
		l.logger.Info("storage: disk space is back, accepting appends", "dir", l.dir, "leo", l.leo.Load())
	}
}

// NoSpace reports whether the last append failed because the disk is full.
func (l *Log) NoSpace() bool { return l.noSpace.Load() != nil }
