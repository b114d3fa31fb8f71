package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gregor-dev/gregor/internal/record"
)

// Open opens the log in dir, creating dir if needed, and recovers it:
//   - leftovers of interrupted operations (*.tmp, *.cleaned, *.swap,
//     *.deleted) and index files without a .log are deleted;
//   - segments wholly below the checkpointed start offset are deleted;
//   - without the clean-shutdown marker (a crash), the active segment and
//     every segment ending above the recovery point are scanned batch by
//     batch (CRC, increasing offsets) and cut at the first bad batch, and
//     their indexes are rebuilt;
//   - every other segment's indexes are checked (whole entries, increasing,
//     last entries pointing at the right batches) and rebuilt by scanning
//     batch headers if missing or wrong; the tail after the last index entry
//     is scanned to restore max timestamps;
//   - each segment must end where the next begins (see the continuity rule
//     in recover): at the first break the log is cut and the segments after
//     it are deleted;
//   - the start offset, LEO and leader-epoch cache are restored, the epoch
//     cache cut to [start, LEO].
func Open(fs FS, dir string, o Options) (*Log, error) {
	l := &Log{fs: fs, dir: dir, opts: o.withDefaults(), onFlush: o.OnFlush}
	l.logger = l.opts.Logger
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	if err := l.recover(); err != nil {
		if p := l.segs.Load(); p != nil {
			for _, s := range *p {
				s.close()
			}
		}
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	// Recovery leaves every batch on disk: clean shutdowns flushed, and
	// the segments it rescanned it also synced. The persisted recovery
	// point follows the recovered log end now, up (after a crash) or down
	// (recovery cut the log below it): left above it, it would make the
	// next crash trust segments appended from here without rescanning them.
	// (An absent checkpoint is safe, everything is rescanned: a new, empty
	// log gets none until it has data.)
	saved, leo := l.flush.saved, l.leo.Load()
	l.flush.init(leo, saved)
	if saved >= 0 || leo > 0 {
		if err := l.checkpointRecoveryPoint(); err != nil {
			l.close(false)
			return nil, fmt.Errorf("storage: open %s: %w", dir, err)
		}
	}
	// Epochs a rescan found in segments below the recovery point (one
	// that lost its tail, or all of them after a bad epoch checkpoint) are
	// in no checkpoint, and the next Open will not rescan those segments:
	// they are written now, or a crash would lose them.
	if l.epochsFromTrusted {
		if err := l.flushEpochs(); err != nil {
			l.close(false)
			return nil, fmt.Errorf("storage: open %s: %w", dir, err)
		}
	}
	return l, nil
}

func isLeftover(name string) bool {
	for _, suffix := range []string{".tmp", cleanedSuffix, ".swap", deletedSuffix} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

func (l *Log) recover() error {
	ents, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return err
	}
	log := l.opts.Logger
	clean := false
	changed := false // the directory's entries, which must be durable before Open returns
	hasLog := map[int64]bool{}
	var indexFiles []string
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if name == cleanShutdownFile {
			clean = true
			continue
		}
		if isLeftover(name) {
			log.Info("storage: removing leftover file", "dir", l.dir, "file", name)
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			changed = true
			continue
		}
		base, suffix, ok := parseSegmentName(name)
		switch {
		case !ok:
		case suffix == logSuffix:
			hasLog[base] = true
		default:
			indexFiles = append(indexFiles, name)
		}
	}
	for _, name := range indexFiles {
		if base, _, _ := parseSegmentName(name); !hasLog[base] {
			log.Info("storage: removing index without a log", "dir", l.dir, "file", name)
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil {
				return err
			}
			changed = true
		}
	}
	var bases []int64
	for base := range hasLog {
		bases = append(bases, base)
	}
	slices.Sort(bases)

	start := int64(0)
	if data, ok, err := readFile(l.fs, l.dir, startOffsetFile); err != nil {
		return err
	} else if ok {
		if start, err = decodeStartOffset(data); err != nil {
			log.Warn("storage: ignoring start offset checkpoint", "dir", l.dir, "err", err)
			start = 0
		}
	}
	// A crash between checkpointing the start offset and deleting segments.
	for len(bases) > 1 && bases[1] <= start {
		if err := removeSegmentFiles(l.fs, l.dir, bases[0]); err != nil {
			return err
		}
		bases = bases[1:]
		changed = true
	}

	// The start offset as checkpointed, for the rescans' epochs (see
	// rescannedEpoch); raised to the first segment's base below.
	l.start.Store(start)
	var segs []*segment
	defer func() { l.setSegmentsLocked(segs) }() // Open closes them on error
	if len(bases) == 0 {
		s, _, err := openSegment(l.fs, l.dir, start, true)
		if err != nil {
			return err
		}
		segs = append(segs, s)
		changed = true // a new log: its first segment must not vanish in a crash
	}
	// The epoch checkpoint covers the batches below the recovery point;
	// the rescan below adds the epochs of the batches above it. One that
	// does not decode covers nothing: every segment is rescanned for its
	// epochs, else those of the trusted ones would be missing from the
	// cache and OffsetForLeaderEpoch would answer for them wrongly.
	rescanAll := false
	epochData, haveEpochs, err := readFile(l.fs, l.dir, epochCheckpointFile)
	if err != nil {
		return err
	} else if haveEpochs {
		if err := l.epochs.decode(epochData); err != nil {
			log.Warn("storage: ignoring leader epoch checkpoint, rescanning the log for its epochs", "dir", l.dir, "err", err)
			rescanAll = true
		}
	}
	// After a crash, every segment that ends above the recovery point may
	// hold data that never reached the disk: rescan those. (Without a
	// checkpoint, all of them.)
	recoveryPoint, ok := l.readRecoveryPoint()
	l.flush.saved = -1
	if ok {
		l.flush.saved = recoveryPoint
	}
	// The epoch checkpoint is written before every recovery point
	// (saveLocked), even when it holds no epoch: one missing is written
	// with the next. So a recovery point above the first segment's base
	// with no epoch checkpoint means the file was lost, and with it the
	// epochs of the segments below the recovery point, which nothing else
	// rescans: they are rebuilt as after a damaged checkpoint.
	if !haveEpochs {
		l.markEpochsDirty()
		if !rescanAll && ok && len(bases) > 0 && recoveryPoint > bases[0] {
			log.Warn("storage: leader epoch checkpoint missing, rescanning the log for its epochs", "dir", l.dir, "recoveryPoint", recoveryPoint)
			rescanAll = true
		}
	}
	// After a crash the checkpoint's epochs at or above the recovery
	// point may be stale: it is written lazily, and a power loss can have
	// dropped the batches they came from and kept it while newer batches,
	// synced since, carry other epochs from the same offsets. Those batches
	// are all rescanned, so their epochs come from the rescan alone.
	if !clean && ok && l.epochs.truncateFromEnd(recoveryPoint) {
		l.markEpochsDirty()
	}
	for i, base := range bases {
		s, missingIndex, err := openSegment(l.fs, l.dir, base, false)
		if err != nil {
			return err
		}
		segs = append(segs, s)
		last := i == len(bases)-1
		expected := !clean && (last || bases[i+1] > recoveryPoint)
		rescanned := rescanAll || expected
		// A segment holds only offsets below the next one's base (see
		// recoverSegment).
		limit := int64(math.MaxInt64)
		if !last {
			limit = bases[i+1]
		}
		if rescanned {
			err = l.recoverSegment(s, limit)
		} else {
			rescanned, err = l.loadSegment(s, missingIndex, limit)
		}
		// Continuity. Inside a segment, base offsets must increase, but
		// they may jump: compaction removes whole batches and keeps the
		// offsets of the rest, and a follower's AppendAssigned keeps the
		// gaps of its compacted leader. That is all the rescan checks
		// within a segment too. Between segments there is no gap: a
		// segment is rolled at the end of the last batch of the one
		// before (rollLocked), and compaction keeps every segment's last
		// batch, so each segment's last batch ends exactly at the next
		// one's base offset. A segment that ends before the next begins
		// lost its tail (or the next one is misnamed or a segment went
		// missing); one that ends after it overlaps it. The offsets above
		// the break cannot be trusted to follow on, so the log ends
		// there, as after a torn tail in a rescanned segment (and as in
		// Kafka's recovery, which deletes the segments after one it had
		// to truncate). A trusted segment is checked by its last batch
		// (loadSegment reads next from the last index entry and the tail
		// after it), not rescanned, unless the check fails.
		if err == nil && !last && s.next != bases[i+1] && !rescanned {
			l.opts.Logger.Warn("storage: segment does not end where the next begins, rescanning it", "dir", l.dir,
				"segment", base, "ends", s.next, "next", bases[i+1])
			err = l.recoverSegment(s, limit)
			rescanned = true
		}
		if rescanned && !expected {
			l.epochsFromTrusted = true
		}
		if err == nil && !last && s.next != bases[i+1] {
			l.opts.Logger.Error("storage: deleting the segments after a break in the offsets: unless another in-sync replica has them, the offsets from fromOffset on are LOST", "dir", l.dir,
				"segment", base, "ends", s.next, "next", bases[i+1], "deleted", len(bases)-i-1, "fromOffset", s.next)
			for _, b := range bases[i+1:] {
				if err := removeSegmentFiles(l.fs, l.dir, b); err != nil {
					return err
				}
			}
			// The epochs of the deleted segments go with them. Cutting
			// at the LEO (below) is not enough when this segment ends
			// after the next began (a base offset garbled upwards, which
			// the CRC does not cover): an epoch the next segment began
			// would stay, below the LEO, on batches of older epochs, and
			// the next Open, rescanning this segment as the active one,
			// would drop it (FuzzStorageRecovery).
			// The epochs of this segment's own batches are then added
			// again, as the next Open, rescanning it as the active one,
			// will: those above the cut (the garbled batch's, served as
			// the last), and those below it that the cut epochs had
			// hidden (a batch's epoch is added only above the latest;
			// FuzzStorageRecovery 26d57828).
			if cut := min(s.next, bases[i+1]); l.epochs.truncateFromEnd(cut) {
				l.markEpochsDirty()
				l.epochsFromTrusted = true
				if err := l.reassignEpochs(s, math.MaxInt64); err != nil {
					return err
				}
			}
			bases = bases[:i+1]
			last = true
			changed = true
		}
		if err == nil && !last {
			s.finish() // a rebuilt time index gets its final entry back
			err = s.persistIndexes()
		}
		if err != nil {
			return err
		}
		if last {
			break
		}
	}
	l.setSegmentsLocked(segs)
	active := segs[len(segs)-1]
	l.leo.Store(active.next)
	start = max(start, segs[0].base)
	l.start.Store(start)
	l.lastFlush = l.nowMs()
	if err := l.setRollBase(active); err != nil {
		return err
	}
	if start > active.next {
		log.Warn("storage: start offset above the recovered log end, emptying the log", "dir", l.dir, "start", start, "leo", active.next)
		if err := l.truncateFullyLocked(start); err != nil {
			return err
		}
		segs = l.segments()
	}

	// A segment the checkpoint covered was rescanned (it was damaged, or
	// did not end where the next began), or a rescanned batch
	// contradicted the checkpoint: the checkpoint may be damaged, and its
	// epochs and the rescan's mix. The cache is rebuilt
	// from every segment's batch headers instead, so that it depends on
	// the batches alone, and the next Open, trusting what this one
	// checkpoints and rescanning only the active segment, agrees with it.
	if (l.epochsFromTrusted || l.epochsDamaged) && !rescanAll {
		l.epochsFromTrusted = true // checkpointed before Open returns
		l.epochs.restore(nil)
		for i, s := range segs {
			limit := int64(math.MaxInt64)
			if i+1 < len(segs) {
				limit = segs[i+1].base
			}
			if err := l.reassignEpochs(s, limit); err != nil {
				return err
			}
		}
		l.markEpochsDirty()
	}
	// From the start first: it moves the first epoch up to the start
	// offset, which may be the LEO, and the cut from the end must see that
	// (else an Open on the cache it persists would cut it again).
	cutStart := l.epochs.truncateFromStart(l.start.Load())
	if cutEnd := l.epochs.truncateFromEnd(l.leo.Load()); cutEnd || cutStart {
		// Written with the next recovery point (or at Close): a crash
		// before that finds the same stale entries and cuts them again.
		l.markEpochsDirty()
	}
	// The clean-shutdown marker stays until the first write to the log
	// (dropCleanMarkerLocked): a log that is only read, or untouched,
	// stays clean, and start-up costs no directory fsync per partition.
	l.cleanMarker = clean
	if changed {
		return l.fs.SyncDir(l.dir)
	}
	return nil
}

// setRollBase starts the active segment's segment.ms clock, as Kafka does,
// from its first batch's max timestamp (now if it has none or is empty).
func (l *Log) setRollBase(s *segment) error {
	s.rollBase = l.nowMs()
	end := s.size.Load()
	if end == 0 {
		return nil
	}
	h, err := s.header(make([]byte, record.HeaderSize), 0, end)
	if err != nil {
		return s.readErr(err, 0)
	}
	if h.MaxTimestamp >= 0 && h.MaxTimestamp < s.rollBase {
		s.rollBase = h.MaxTimestamp
	}
	return nil
}

// loadSegment opens a finished segment (not the active one after a crash):
// it loads and checks the indexes, rebuilding them from batch headers if
// needed, and scans the tail past the last index entry. Torn or
// discontiguous data falls back to recoverSegment (rescanned reports it),
// with limit.
func (l *Log) loadSegment(s *segment, missingIndex bool, limit int64) (rescanned bool, err error) {
	fi, err := s.log.Stat()
	if err != nil {
		return false, err
	}
	size := fi.Size()
	s.size.Store(size)
	var why error
	switch {
	case missingIndex:
		why = errors.New("index file missing")
	default:
		why = errors.Join(s.idx.load(), s.tidx.load())
		if why == nil {
			why = s.checkIndexes(size)
		}
	}
	var from offsetEntry
	if why != nil {
		l.opts.Logger.Info("storage: rebuilding segment indexes", "segment", s.log.Name(), "reason", why)
		s.resetIndexes()
	} else {
		from, _ = s.idx.last()
	}
	lastTs := s.tidx.lastTs()
	err = s.scanTail(from, size, int64(l.opts.IndexIntervalBytes))
	if err == nil && why == nil && s.maxTs != lastTs {
		// A finished segment's last time entry is its max timestamp.
		l.opts.Logger.Info("storage: rebuilding segment indexes", "segment", s.log.Name(), "reason", "time index lacks the max timestamp")
		s.resetIndexes()
		err = s.scanTail(offsetEntry{}, size, int64(l.opts.IndexIntervalBytes))
	}
	if errors.Is(err, ErrCorrupt) {
		l.opts.Logger.Warn("storage: segment inconsistent, recovering it", "segment", s.log.Name(), "err", err)
		return true, l.recoverSegment(s, limit)
	}
	if err == nil {
		err = s.persistIndexes() // what a rebuild or the tail scan added, if anything
	}
	s.publish(size)
	return false, err
}

// checkIndexes checks that the last entries of loaded indexes point at the
// batches they name, and that the first batch does not begin below the
// segment's base offset (the tail scan checks the batches after the last
// entry; those between are trusted).
func (s *segment) checkIndexes(size int64) error {
	buf := make([]byte, record.HeaderSize)
	if size > 0 {
		h, err := s.header(buf, 0, size)
		if err != nil {
			return s.readErr(err, 0)
		}
		if h.BaseOffset < s.base {
			return fmt.Errorf("%w: first batch at offset %d, below the segment's base", ErrCorrupt, h.BaseOffset)
		}
	}
	if e, ok := s.idx.last(); ok {
		h, err := s.header(buf, int64(e.pos), size)
		if err != nil {
			return s.readErr(err, int64(e.pos))
		}
		if h.BaseOffset != s.base+int64(e.rel) {
			return fmt.Errorf("%w: offset index entry %d→%d points at offset %d", ErrCorrupt, e.rel, e.pos, h.BaseOffset)
		}
		if h.MaxTimestamp > s.tidx.lastTs() { // a time entry was due when this batch was indexed
			return fmt.Errorf("%w: time index ends below timestamp %d at offset %d", ErrCorrupt, h.MaxTimestamp, h.BaseOffset)
		}
	}
	if e, ok := s.tidx.last(); ok {
		h, _, found, err := s.seek(buf, s.base+int64(e.rel), size)
		if err != nil {
			return err
		}
		if !found || h.BaseOffset != s.base+int64(e.rel) || h.MaxTimestamp != e.ts {
			return fmt.Errorf("%w: time index entry %d→%d matches no batch", ErrCorrupt, e.ts, e.rel)
		}
	}
	return nil
}

// scanTail restores the writer state of s (next offset, max timestamp,
// bytes since the last index entry) by reading batch headers from the
// offset index entry from to end, adding any index entries appends would
// have added there. Recovery and TruncateTo share it.
func (s *segment) scanTail(from offsetEntry, end, interval int64) error {
	s.next, s.bytesSinceIndex = s.base+int64(from.rel), 0
	s.maxTs, s.maxTsOff = -1, -1
	if e, ok := s.tidx.last(); ok {
		s.maxTs, s.maxTsOff = e.ts, s.base+int64(e.rel)
	}
	buf := make([]byte, record.HeaderSize)
	for pos := int64(from.pos); pos < end; {
		h, err := s.header(buf, pos, end)
		if err != nil {
			return s.readErr(err, pos)
		}
		if h.BaseOffset < s.next { // compaction leaves gaps, never overlaps
			return fmt.Errorf("%w: %s: batch at %d has offset %d, expected at least %d", ErrCorrupt, s.log.Name(), pos, h.BaseOffset, s.next)
		}
		if !s.relOK(h.LastOffset()) {
			return fmt.Errorf("%w: %s: batch at %d has offsets up to %d, too far above the base", ErrCorrupt, s.log.Name(), pos, h.LastOffset())
		}
		s.indexBatch(&h, pos, interval)
		pos += h.Size()
	}
	return nil
}

const recoverChunk = 1 << 20

// recoverSegment reads the whole segment, checking every batch's framing,
// CRC and offset (increasing from the base: compaction leaves gaps between
// batches, but all below limit, the next segment's base), truncates the
// file at the first bad one, and rebuilds the indexes.
func (l *Log) recoverSegment(s *segment, limit int64) error {
	fi, err := s.log.Stat()
	if err != nil {
		return err
	}
	fileSize := fi.Size()
	size := fileSize // scanned up to; lowered to cut a batch already accepted
	s.resetIndexes()
	epochsBefore := l.epochs.snapshot()
	var (
		buf      []byte
		bufPos   int64 // file position of buf[0]
		pos      int64
		prevPos  int64 = -1 // the last batch accepted, if its base offset jumped
		prevNext int64      // s.next before it
	)
	// cutBefore starts the scan again, from indexes and epochs as before
	// it, to stop at cut; it returns the new end of the scan.
	cutBefore := func(cut int64) int64 {
		pos, buf, bufPos, prevPos = 0, buf[:0], 0, -1
		s.resetIndexes()
		l.epochs.restore(epochsBefore)
		return cut
	}
	interval := int64(l.opts.IndexIntervalBytes)
	var reason error
	for {
		for pos < size {
			off := int(pos - bufPos)
			h, batch, _, err := record.Next(buf[off:])
			if errors.Is(err, record.ErrTruncated) && bufPos+int64(len(buf)) < size {
				need := min(int64(recoverChunk), size-pos) // a small segment gets a small buffer
				if n, err := record.BatchSize(buf[off:]); err == nil && n > need && n <= size-pos {
					need = n
				}
				if int64(cap(buf)) < need {
					nb := make([]byte, len(buf)-off, need)
					copy(nb, buf[off:])
					buf = nb
				} else {
					buf = buf[:copy(buf, buf[off:])]
				}
				bufPos = pos
				filled := bufPos + int64(len(buf))
				want := int(min(int64(cap(buf)-len(buf)), size-filled))
				n, err := s.log.ReadAt(buf[len(buf):len(buf)+want], filled)
				buf = buf[:len(buf)+n]
				if n < want {
					if err != nil && err != io.EOF {
						return err
					}
					size = filled + int64(n)
				}
				continue
			}
			base := h.BaseOffset
			if err != nil && len(buf)-off >= 8 {
				base = int64(binary.BigEndian.Uint64(buf[off:])) // a misframed batch's, if it is one
			}
			// A jumping batch below the recovery point was synced: it is
			// trusted over what overlaps it (a garbled unsynced batch after
			// a power loss, more likely than a garbled synced one).
			synced := l.flush.saved >= 0 && s.next <= l.flush.saved
			if base < s.next && prevPos >= 0 && base >= prevNext && !synced {
				// This batch (intact or not: misframed, or failing the CRC
				// checked below) follows on from the one before the last,
				// which jumped ahead over it: the jump was a base offset
				// garbled upwards, not a compaction gap. The log ends before
				// that batch; the scan starts again (indexes and epochs as
				// before it) to stop there.
				reason = fmt.Errorf("batch at %d has offset %d, which overlaps the batch before it, at offset %d after a jump from %d",
					pos, base, s.next-1, prevNext)
				size = cutBefore(prevPos)
				continue
			}
			if err != nil {
				reason = err
				break
			}
			if err := record.CheckCRC(batch); err != nil {
				reason = err
				break
			}
			if h.BaseOffset < s.next || h.LastOffsetDelta < 0 {
				reason = fmt.Errorf("batch offset %d, expected at least %d", h.BaseOffset, s.next)
				break
			}
			// The base offset is outside the CRC: a torn write may garble it
			// into one the segment's indexes cannot hold (appends roll first).
			if !s.relOK(h.LastOffset()) {
				reason = fmt.Errorf("batch offsets %d-%d too far above the segment's base", h.BaseOffset, h.LastOffset())
				break
			}
			if h.LastOffset() >= limit && h.BaseOffset > s.next {
				// A jump (compaction's gaps stay inside a segment) past the
				// next segment's base: a garbled base offset. Served, it
				// would move the LEO far ahead; a batch following on
				// contiguously instead means the next segment is misnamed,
				// which the break below handles.
				reason = fmt.Errorf("batch offsets %d-%d jump past the next segment's base %d", h.BaseOffset, h.LastOffset(), limit)
				break
			}
			prevPos, prevNext = -1, s.next
			if h.BaseOffset > s.next {
				prevPos = pos
			}
			s.indexBatch(&h, pos, interval)
			l.rescannedEpoch(s, &h)
			pos += h.Size()
		}
		// Recovery cut something off this segment: a batch (or a torn
		// one) that, the log being sound, lay between its last batch and
		// the next segment's base. Ending exactly at that base then means
		// its last batch's base offset was garbled upwards over the gap;
		// unless synced, it goes too, and the log ends before it.
		synced := l.flush.saved >= 0 && s.next <= l.flush.saved
		if pos < fileSize && s.next == limit && prevPos >= 0 && !synced {
			reason = fmt.Errorf("segment ends at the next one's base %d after losing a batch: its last batch, at offset %d after a jump from %d, has a garbled base offset",
				limit, s.next-1, prevNext)
			size = cutBefore(prevPos)
			continue
		}
		break
	}
	if pos < fileSize {
		l.logTruncatedTail(s, pos, fileSize, reason)
		if err := s.log.Truncate(pos); err != nil {
			return err
		}
	}
	s.publish(pos)
	s.dirty = true
	return s.sync()
}

// rescannedEpoch adds the leader epoch of h, a batch of s that a rescan
// found intact, to the epoch cache.
func (l *Log) rescannedEpoch(s *segment, h *record.Header) {
	e := h.PartitionLeaderEpoch
	if e < 0 || h.Control() || h.LastOffset() < l.start.Load() {
		// Batches below the log start offset serve nothing and answer
		// no OffsetForLeaderEpoch: the cache starts at the start offset
		// (else one Open, rescanning the segment as a trusted one, and
		// the next, as the active one, would see different epochs in
		// them; FuzzStorageRecovery 08b4924e).
		return
	}
	base := max(h.BaseOffset, l.start.Load())
	// The epoch field is outside the CRC (the leader stamps it): a batch
	// at or after an epoch's start with a lower epoch means that epoch
	// came from a damaged field, or from a checkpoint that described
	// segments since lost (a rescan after a break in the offsets finds a
	// batch whose garbled base offset lands inside the next segment's
	// epoch; FuzzStorageRecovery 7c50d9b9); drop it rather than let it
	// answer OffsetForLeaderEpoch. Epochs that start after the batch
	// stay: the batches after it may carry them. The offsets the dropped
	// epochs covered go to this batch's epoch, where no lower one covers
	// them already: so the result does not depend on whether the dropped
	// epoch had replaced an entry of this one at its start (a rescan
	// reaching the damaged batch as the first of its epoch) or had not
	// (one starting from a checkpoint that covered it; FuzzStorageRecovery
	// 7798bade).
	// A batch of a lower epoch than the cache has covering it is
	// contradicted below; one of a higher epoch than covers it, while the
	// cache has that epoch or a later one elsewhere, means the cache has
	// the epoch starting too late or lacks it (a garbled checkpoint line):
	// recovery rebuilds the cache from the batches.
	if cov, ok := l.epochs.covering(base); ok && cov.epoch < e {
		if latest, _ := l.epochs.latest(); latest.epoch >= e {
			l.epochsDamaged = true
		}
	}
	from := base
	if dropped := l.epochs.dropContradicted(e, base); len(dropped) > 0 {
		for _, d := range dropped {
			from = min(from, d.start)
		}
		from = max(from, l.start.Load())
		l.opts.Logger.Warn("storage: leader epoch going backwards in the log; dropping the higher epochs as damaged", "segment", s.log.Name(),
			"offset", h.BaseOffset, "epoch", e, "dropped", len(dropped), "from", from)
		l.markEpochsDirty()
		l.epochsDamaged = true
	}
	// An epoch the cache has starting above a batch of that epoch (a
	// garbled checkpoint line) starts at the batch instead.
	if latest, ok := l.epochs.latest(); !ok || e > latest.epoch || e == latest.epoch && from < latest.start {
		if ok && e == latest.epoch {
			l.epochsDamaged = true
		}
		l.epochs.assign(e, from)
		l.markEpochsDirty()
	}
}

// reassignEpochs adds again the epochs of the batches of s, after the
// cache was cut or emptied. A header it cannot read, or a batch out of
// the segment's order or reaching limit (the next segment's base), is
// damage in a trusted segment, which is served as it is: the segment's
// epochs end there.
func (l *Log) reassignEpochs(s *segment, limit int64) error {
	buf := make([]byte, record.HeaderSize)
	size := s.size.Load()
	next := s.base
	for pos := int64(0); pos < size; {
		h, err := s.header(buf, pos, size)
		if errors.Is(err, ErrCorrupt) || errors.Is(err, errTorn) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.BaseOffset < next || h.LastOffset() >= limit {
			return nil
		}
		next = h.NextOffset()
		l.rescannedEpoch(s, &h)
		pos += h.Size()
	}
	return nil
}

// logTruncatedTail reports what recovery cuts from pos to size of s. A
// torn last batch (its length runs past the file) is what a crash leaves
// of an append that never fully reached the disk: a WARN. Whole batches
// cut because one fails its CRC (or its offsets) are data that did reach
// the disk and rotted, or a write the disk lost in the middle: an ERROR
// that names the offsets cut, as far as the framing after the bad batch
// can still be followed, and their record count (from the headers, so a
// lower bound when a header is damaged). Recovery still cuts them: on a
// replicated partition the replica then refetches them from the leader
// (and the leader drops it from the ISR as its log end went back, see
// partition.ReplicaFetch), so nothing is lost while another in-sync
// replica has them; if this replica was the only in-sync copy, they are
// lost, and this line is the record of it.
func (l *Log) logTruncatedTail(s *segment, pos, size int64, reason error) {
	buf := make([]byte, record.HeaderSize)
	next, records, batches := s.next, int64(0), 0
	for p := pos; p < size; {
		h, err := s.header(buf, p, size)
		if err != nil || h.BaseOffset < next {
			break
		}
		records += int64(h.NumRecords)
		batches++
		next, p = h.NextOffset(), p+h.Size()
	}
	if batches == 0 {
		l.opts.Logger.Warn("storage: truncating torn log tail", "dir", l.dir, "segment", s.log.Name(),
			"position", pos, "bytes", size-pos, "fromOffset", s.next, "reason", reason)
		return
	}
	l.opts.Logger.Error("storage: truncating a damaged batch and everything after it in the segment: unless another in-sync replica has them, these offsets are LOST",
		"dir", l.dir, "segment", s.log.Name(), "position", pos, "bytes", size-pos,
		"fromOffset", s.next, "toOffset", next-1, "offsets", next-s.next, "records", records, "batches", batches, "reason", reason)
}

// Close flushes the log, writes the clean-shutdown marker and closes its
// files. A failed log gets no marker, so the next Open recovers it. Slices
// read before Close become unreadable.
func (l *Log) Close() error { return l.close(true) }

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	err := l.close(false)
	if errors.Is(err, ErrClosed) {
		err = nil
	}
	return errors.Join(err, l.fs.RemoveAll(l.dir))
}

func (l *Log) close(marker bool) error {
	l.flush.rolls.Wait() // background syncs of rolled segments finish first
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return nil
	}
	var errs []error
	if l.Err() == nil && marker { // Delete needs no flush
		l.activeLocked().finish()
		if err := l.flushLocked(); err != nil {
			errs = append(errs, err)
		} else if err := l.checkpointRecoveryPoint(); err != nil {
			errs = append(errs, err)
		} else if err := l.flushEpochs(); err != nil {
			errs = append(errs, err)
		} else if err := writeFileAtomic(l.fs, l.dir, cleanShutdownFile, nil); err != nil {
			errs = append(errs, err)
		}
	}
	l.closed.Store(true)
	for _, s := range l.segments() {
		errs = append(errs, s.close())
	}
	l.sweepLocked(true)
	return errors.Join(errs...)
}
