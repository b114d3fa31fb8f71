package storage

import (
	"fmt"

	"github.com/gregor-dev/gregor/internal/record"
)

// SetStartOffset raises the log start offset (DeleteRecords, retention) to
// off ≤ LEO, persists it, and removes the segments wholly below it. It never
// lowers the start offset.
func (l *Log) SetStartOffset(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.raiseStartLocked(off)
}

func (l *Log) raiseStartLocked(off int64) error {
	if off <= l.start.Load() {
		return nil
	}
	if leo := l.leo.Load(); off > leo {
		return fmt.Errorf("%w: start offset %d above log end offset %d", ErrOffsetOutOfRange, off, leo)
	}
	if err := writeFileAtomic(l.fs, l.dir, startOffsetFile, encodeStartOffset(off)); err != nil {
		return l.failLocked("checkpoint start offset", err)
	}
	l.start.Store(off)
	l.forgetDamageLocked()
	if l.epochs.truncateFromStart(off) {
		if err := l.persistEpochsLocked(); err != nil {
			return err
		}
	}
	segs := l.segments()
	k := 0 // segs[:k] lie wholly below off; the active one always stays
	for k < len(segs)-1 && segs[k+1].base <= off {
		k++
	}
	if k > 0 {
		l.setSegmentsLocked(segs[k:])
		l.retireLocked(segs[:k], false)
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.failLocked("delete segments", err)
		}
	}
	return nil
}

// TruncateTo removes every batch holding an offset ≥ off (a follower
// truncating to its leader's log). A batch straddling off goes entirely, as
// in Kafka. Below the start offset, the log is emptied and starts again at
// off.
func (l *Log) TruncateTo(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if off < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, off)
	}
	if off >= l.leo.Load() {
		return nil
	}
	if err := l.dropCleanMarkerLocked(); err != nil {
		return err
	}
	segs := l.segments()
	k := 0 // segs[:k] have base < off
	for k < len(segs) && segs[k].base < off {
		k++
	}
	if k == 0 || off < l.start.Load() {
		if err := l.lowerRecoveryPoint(off); err != nil {
			return err
		}
		return l.truncateFullyLocked(off)
	}
	s := segs[k-1]
	end := s.size.Load()
	buf := make([]byte, record.HeaderSize)
	h, cut, found, err := s.seek(buf, off, end)
	if err != nil {
		return l.failLocked("truncate", err)
	}
	leo := s.next
	if found {
		leo = min(h.BaseOffset, off) // off in a compaction gap: nothing lies between
	} else {
		cut = end
	}
	if err := l.lowerRecoveryPoint(leo); err != nil {
		return err
	}
	// Publish the shorter log before touching files.
	l.leo.Store(leo)
	l.forgetDamageLocked()
	l.cleanerTruncatedLocked(leo)
	if k < len(segs) {
		l.setSegmentsLocked(segs[:k:k])
		l.retireLocked(segs[k:], false)
	}
	if cut < end {
		s.size.Store(cut)
		rel := uint32(leo - s.base)
		if err := s.log.Truncate(cut); err != nil {
			return l.failLocked("truncate", err)
		}
		s.idx.truncateRel(rel)
		s.tidx.truncateRel(rel)
		last, _ := s.idx.last()
		if err := s.scanTail(last, cut, int64(l.opts.IndexIntervalBytes)); err != nil {
			return l.failLocked("truncate", err)
		}
		s.publish(cut)
		s.dirty = true
	}
	if err := s.sync(); err != nil {
		return l.failLocked("truncate", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked("truncate", err)
	}
	if err := l.setRollBase(s); err != nil { // it may have been a finished segment
		return l.failLocked("truncate", err)
	}
	if l.start.Load() > leo {
		if err := l.setStartLocked(leo); err != nil {
			return err
		}
	}
	if l.epochs.truncateFromEnd(leo) {
		return l.persistEpochsLocked()
	}
	return nil
}

// truncateFullyLocked replaces every segment by an empty one at off, which
// becomes the start offset and LEO. Outside Open, the caller has lowered the
// recovery point to off first (Open persists it once recovery is done).
func (l *Log) truncateFullyLocked(off int64) error {
	if err := l.dropCleanMarkerLocked(); err != nil {
		return err
	}
	segs := l.segments()
	for _, s := range segs { // free the names: one of them may be off's
		s.retireIndexes()
		if err := renameDeleted(l.fs, l.dir, s.base); err != nil {
			return l.failLocked("truncate", err)
		}
		s.deletedNames = true
	}
	s, _, err := openSegment(l.fs, l.dir, off, true)
	if err != nil {
		return l.failLocked("truncate", err)
	}
	l.leo.Store(off)
	l.setDamageLocked(nil)
	l.cleanerTruncatedLocked(off)
	l.setSegmentsLocked([]*segment{s})
	l.retireLocked(segs, true)
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked("truncate", err)
	}
	if err := l.setStartLocked(off); err != nil {
		return err
	}
	if l.epochs.truncateFromEnd(off) {
		return l.persistEpochsLocked()
	}
	return nil
}

// TruncateFullyAndStartAt empties the log and starts it again at off, which
// becomes both the start offset and the LEO, and clears the leader epoch
// cache (a follower so far behind that the leader no longer has the offsets
// it needs, as Kafka's truncateFullyAndStartAt).
func (l *Log) TruncateFullyAndStartAt(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if off < 0 {
		return fmt.Errorf("%w: start at %d", ErrOffsetOutOfRange, off)
	}
	// Everything goes, whether off is below the log or above it.
	if err := l.lowerRecoveryPoint(min(off, l.start.Load())); err != nil {
		return err
	}
	if err := l.truncateFullyLocked(off); err != nil {
		return err
	}
	if l.epochs.truncateFromEnd(-1) {
		return l.persistEpochsLocked()
	}
	return nil
}

// setStartLocked sets and persists the start offset, in either direction.
func (l *Log) setStartLocked(off int64) error {
	if err := writeFileAtomic(l.fs, l.dir, startOffsetFile, encodeStartOffset(off)); err != nil {
		return l.failLocked("checkpoint start offset", err)
	}
	l.start.Store(off)
	return nil
}

// retireLocked takes segments already cut out of the segment list, as
// Kafka's asynchronous segment deletion does: it renames their files
// *.deleted (unless that is done, or their files were replaced: the
// cleaner's), drops the log's reference and leaves them open in the
// graveyard until sweepLocked closes and removes them, FileDeleteDelayMs
// later. The caller syncs the directory. A crash meanwhile leaves the
// *.deleted files, which the next Open removes. (Two segments retired at
// the same base within the delay share the *.deleted names: the second
// rename replaces the first's files, whose open handles stay valid, and the
// first sweep removes the second's names early; only disk space is freed
// sooner.)
func (l *Log) retireLocked(segs []*segment, filesHandled bool) {
	now := l.nowMs()
	for _, s := range segs {
		s.retireIndexes()
		if !filesHandled {
			if err := renameDeleted(l.fs, l.dir, s.base); err != nil {
				l.opts.Logger.Warn("storage: renaming removed segment files", "dir", l.dir, "base", s.base, "err", err)
			}
			s.deletedNames = true
		}
		s.retiredAt = now
		s.release()
		l.graveyard = append(l.graveyard, s)
	}
	l.sweepLocked(false)
}

// sweepLocked closes retired segments no read holds once FileDeleteDelayMs
// has passed (all: now, on Close), and removes their *.deleted files, so
// Slices handed out shortly before stay readable. There is no timer: the
// broker's periodic MaybeFlush (every second), appends, retirements and
// Close sweep, with the log's clock (Options.Now).
func (l *Log) sweepLocked(all bool) {
	now := l.nowMs()
	kept := l.graveyard[:0]
	for _, s := range l.graveyard {
		if all || (s.refs.Load() <= 0 && now-s.retiredAt >= l.opts.FileDeleteDelayMs) {
			if err := s.close(); err != nil {
				l.opts.Logger.Warn("storage: closing removed segment", "dir", l.dir, "base", s.base, "err", err)
			}
			if s.deletedNames {
				if err := removeFiles(l.fs, l.dir, s.base, deletedSuffix); err != nil {
					l.opts.Logger.Warn("storage: removing deleted segment files", "dir", l.dir, "base", s.base, "err", err)
				}
			}
			continue
		}
		kept = append(kept, s)
	}
	clear(l.graveyard[len(kept):])
	l.graveyard = kept
}

// LatestEpoch is the latest leader epoch in the epoch cache.
func (l *Log) LatestEpoch() (epoch int32, ok bool) {
	e, ok := l.epochs.latest()
	return e.epoch, ok
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (see epochCache.endOffsetFor).
func (l *Log) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	return l.epochs.endOffsetFor(epoch, l.leo.Load())
}

// AssignEpoch records that leader epoch epoch starts at startOffset (Kafka's
// maybeAssignEpochStartOffset, when this broker becomes leader), dropping
// cached epochs that conflict with it.
func (l *Log) AssignEpoch(epoch int32, startOffset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if epoch < 0 || startOffset < 0 {
		return fmt.Errorf("%w: epoch %d at offset %d", ErrBadBatch, epoch, startOffset)
	}
	if l.epochs.assign(epoch, startOffset) {
		l.markEpochsDirty()
	}
	return nil
}

// The leader-epoch checkpoint. A new epoch (AssignEpoch, or the first
// batch of a newer epoch appended) only marks the cache dirty; the
// checkpoint is written, and fsynced, before the recovery point is next
// persisted above it (saveLocked), and at Close. That is enough: a crash
// rescans every segment above the persisted recovery point, and the rescan
// rebuilds the cache from the batches' leader epochs (recoverSegment), so
// an epoch the checkpoint lacks is one whose batches are all rescanned (or
// one with no batch, which the next leadership replaces). Kafka's
// LogLoader rebuilds the cache from recovered segments the same way. A
// truncation, which removes entries, persists at once.
func (l *Log) markEpochsDirty() { l.epochsDirty.Store(true) }

// persistEpochsLocked writes the epoch checkpoint now (Log.mu held).
func (l *Log) persistEpochsLocked() error {
	l.epochsDirty.Store(false)
	if err := l.writeEpochs(); err != nil {
		l.epochsDirty.Store(true)
		return l.failLocked("checkpoint leader epochs", err)
	}
	return nil
}

// flushEpochs writes the epoch checkpoint if the cache changed since it was
// last written. It needs no Log.mu.
func (l *Log) flushEpochs() error {
	if !l.epochsDirty.Swap(false) {
		return nil
	}
	if err := l.writeEpochs(); err != nil {
		l.epochsDirty.Store(true)
		return l.fail("checkpoint leader epochs", err)
	}
	return nil
}

func (l *Log) writeEpochs() error {
	l.epochWrite.Lock()
	defer l.epochWrite.Unlock()
	return writeFileAtomic(l.fs, l.dir, epochCheckpointFile, l.epochs.encode())
}
