// Package storage keeps one partition's log on disk: segments of raw
// RecordBatch v2 bytes named by base offset, each with a sparse offset index
// and a time index, plus the leader-epoch and log-start-offset checkpoints.
//
// Invariants:
//   - Batches are stored as they came (base offset assigned in place) and
//     each is written with one Write; offsets increase contiguously, except
//     for the gaps compaction leaves inside segments (see clean.go), here or,
//     for a follower's copy, in the leader's log. There is no gap between
//     segments: each one's last batch ends where the next one begins.
//   - Readers (Read, FindTimestamp, MaxTimestampBatch) never take the writer's
//     lock: the segment list is copy-on-write, LEO, segment sizes and max
//     timestamps are published atomically after the bytes they cover are
//     written, and a segment removed from the log stays open (its
//     files renamed *.deleted) until in-flight reads release it and
//     FileDeleteDelayMs has passed, so a Slice handed out shortly before
//     stays readable.
//   - After a failed write or fsync the log is failed for good (ErrStorage);
//     Open on the next start recovers from the files. The exception is an
//     append refused with ENOSPC: it is undone and appends resume once
//     space is back (nospace.go).
//   - Recovery truncates the first torn, corrupt or discontiguous batch of
//     the segments it rescans (the active one, and after a crash those above
//     the recovery point) and everything after it, cuts the log at the first
//     segment that does not end where the next begins, and rebuilds indexes
//     that are missing or inconsistent.
//
// Lock order: cleanState.mu (one cleaning pass), then Log.mu, then
// sparseIndex.mu or epochCache.mu (leaves).
// Functions ending in Locked need Log.mu held.
package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
)

var (
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	ErrStorage          = errors.New("storage: log unavailable after an I/O error") // sticky; KAFKA_STORAGE_ERROR
	ErrClosed           = errors.New("storage: log closed")
	ErrCorrupt          = errors.New("storage: corrupt log data")
	ErrBadBatch         = errors.New("storage: batch does not fit the log") // caller error: sizes or offsets
)

// Options configure a Log. Zero values take the defaults noted.
type Options struct {
	SegmentBytes       int64            // segment.bytes; default 1 GiB, at most MaxInt32
	SegmentMs          int64            // segment.ms: roll when the active segment's first batch is older; 0 = never
	IndexIntervalBytes int32            // index.interval.bytes; default 4096
	SegmentIndexBytes  int32            // segment.index.bytes: roll when an index is full; default 10 MiB
	FlushMessages      int64            // flush.messages: fsync after this many messages; default never
	FlushMs            int64            // flush.ms: fsync when this long since the last flush; default never
	FileDeleteDelayMs  int64            // file.delete.delay.ms: removed segments wait this long (see retireLocked); default 60000, negative: none
	Now                func() time.Time // default time.Now
	Logger             *slog.Logger     // default slog.Default()
	// OnFlush, if set at Open, is told how long each fsync of the log's
	// data took (later SetOptions calls do not change it).
	OnFlush func(time.Duration)
}

func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 1 << 30
	}
	o.SegmentBytes = min(o.SegmentBytes, math.MaxInt32)
	if o.IndexIntervalBytes <= 0 {
		o.IndexIntervalBytes = 4096
	}
	if o.SegmentIndexBytes <= 0 {
		o.SegmentIndexBytes = 10 << 20
	}
	o.SegmentIndexBytes = max(o.SegmentIndexBytes, 3*timeEntrySize)
	if o.FlushMessages <= 0 {
		o.FlushMessages = math.MaxInt64
	}
	if o.FlushMs <= 0 {
		o.FlushMs = math.MaxInt64
	}
	switch {
	case o.FileDeleteDelayMs == 0:
		o.FileDeleteDelayMs = 60000
	case o.FileDeleteDelayMs < 0:
		o.FileDeleteDelayMs = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Log is one partition's log. It is safe for concurrent use: writes are
// serialized by mu; reads run alongside them without it.
type Log struct {
	fs     FS
	dir    string
	logger *slog.Logger // the logger at Open, for paths without Log.mu

	segs   atomic.Pointer[[]*segment] // ascending base offsets; replaced, never edited
	leo    atomic.Int64
	start  atomic.Int64
	failed atomic.Pointer[error] // sticky ErrStorage
	// noSpace: the last append failed with ENOSPC and was undone; appends
	// are refused until one succeeds (see nospace.go). Not sticky.
	noSpace   atomic.Pointer[error]
	noSpaceAt int64 // unix ms of the last ENOSPC; guarded by mu
	// damage: ranges the scrubber found damaged, ascending; replaced
	// under mu, read lock-free (see scrub.go).
	damage atomic.Pointer[[]Damage]
	closed atomic.Bool
	epochs epochCache
	// epochWrite serialises writes of the epoch checkpoint (lock order:
	// Log.mu, then flushState.mu, then epochWrite). epochsDirty: the
	// cache has entries the checkpoint lacks; see markEpochsDirty.
	epochWrite  sync.Mutex
	epochsDirty atomic.Bool

	// cleanMarker: the clean-shutdown marker from the last Close is still
	// on disk (Log.mu). It must go, durably, before anything is written:
	// a crash after a write would otherwise find the log "clean" and trust
	// a torn tail.
	cleanMarker bool
	// epochsFromTrusted: recovery rescanned a segment the next Open will
	// trust, so the epochs it found there must be checkpointed before Open
	// returns (set by recover, read by Open).
	epochsFromTrusted bool
	// epochsDamaged: a rescanned batch contradicted the epoch cache
	// (recovery only).
	epochsDamaged bool

	onFlush func(time.Duration) // Options.OnFlush at Open; nil: none

	flush   flushState // group commit and the recovery point; see flush.go
	cleaner cleanState // compaction; see clean.go

	mu        sync.Mutex
	opts      Options    // guarded by mu
	unflushed int64      // messages appended since the last flush; guarded by mu
	lastFlush int64      // unix ms; guarded by mu
	graveyard []*segment // removed, not yet closed; guarded by mu
}

func (l *Log) segments() []*segment { return *l.segs.Load() }

func (l *Log) setSegmentsLocked(s []*segment) { l.segs.Store(&s) }

func (l *Log) activeLocked() *segment { s := l.segments(); return s[len(s)-1] }

func (l *Log) nowMs() int64 { return l.opts.Now().UnixMilli() }

// Err returns the sticky storage error, or nil.
func (l *Log) Err() error {
	if p := l.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// failLocked makes err sticky and returns it wrapped in ErrStorage.
func (l *Log) failLocked(op string, err error) error { return l.fail(op, err) }

func (l *Log) usable() error {
	if l.closed.Load() {
		return ErrClosed
	}
	return l.Err()
}

// StartOffset is the log start offset (Kafka's logStartOffset).
func (l *Log) StartOffset() int64 { return l.start.Load() }

// EndOffset is the log end offset (LEO): the offset the next batch gets.
func (l *Log) EndOffset() int64 { return l.leo.Load() }

// Size is the number of bytes in the log's .log files.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range l.segments() {
		n += s.size.Load()
	}
	return n
}

// Append writes one validated batch at the end of the log, setting its base
// offset (in place) to the LEO, and returns that offset once the flush
// policy is satisfied. The caller has already stamped the leader epoch and
// any LogAppendTime.
func (l *Log) Append(batch []byte) (baseOffset int64, err error) {
	base, sync, err := l.AppendAsync(batch)
	if err == nil {
		err = l.Sync(sync)
	}
	return base, err
}

// AppendAsync is Append without waiting for the flush policy's fsync: when
// the policy wants one, sync names the append for the Sync the caller must
// wait for before acknowledging the batch (else it is the zero SyncPoint,
// which Sync returns at once for). Callers appending to several logs write
// them all first and then wait, so their fsyncs overlap and group with
// other writers' (group commit).
func (l *Log) AppendAsync(batch []byte) (baseOffset int64, sync SyncPoint, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return -1, SyncPoint{}, err
	}
	h, err := record.ReadHeader(batch)
	if err != nil || h.Size() != int64(len(batch)) || h.LastOffsetDelta < 0 {
		return -1, SyncPoint{}, fmt.Errorf("%w: not one batch of %d bytes: %v", ErrBadBatch, len(batch), err)
	}
	base := l.leo.Load()
	record.SetBaseOffset(batch, base)
	h.BaseOffset = base
	if err := l.appendLocked(batch, &h); err != nil {
		return -1, SyncPoint{}, err
	}
	return base, l.flushDueLocked(), nil
}

// AppendAssigned appends batches whose offsets are already set (a follower's
// copy of the leader's log): their base offsets must increase from the LEO,
// with gaps allowed (the leader's log may have been compacted), never
// overlapping, and their CRCs must hold. Nothing is written unless every
// batch passes. It returns once the flush policy is satisfied.
func (l *Log) AppendAssigned(batches []byte) error {
	sync, err := l.appendAssigned(batches)
	if err == nil {
		err = l.Sync(sync)
	}
	return err
}

func (l *Log) appendAssigned(batches []byte) (SyncPoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return SyncPoint{}, err
	}
	next := l.leo.Load()
	for rest := batches; len(rest) > 0; {
		h, b, r, err := record.Next(rest)
		if err != nil {
			return SyncPoint{}, fmt.Errorf("%w: %w", ErrBadBatch, err)
		}
		if h.BaseOffset < next || h.LastOffsetDelta < 0 {
			return SyncPoint{}, fmt.Errorf("%w: batch at offset %d, log expects at least %d", ErrBadBatch, h.BaseOffset, next)
		}
		if err := record.CheckCRC(b); err != nil {
			return SyncPoint{}, err
		}
		next, rest = h.NextOffset(), r
	}
	for rest := batches; len(rest) > 0; {
		h, b, r, _ := record.Next(rest)
		if err := l.appendLocked(b, &h); err != nil {
			return SyncPoint{}, err
		}
		rest = r
	}
	return l.flushDueLocked(), nil
}

// dropCleanMarkerLocked removes the clean-shutdown marker, durably, before
// the first write to the log after a clean start.
func (l *Log) dropCleanMarkerLocked() error {
	if !l.cleanMarker {
		return nil
	}
	if err := l.fs.Remove(filepath.Join(l.dir, cleanShutdownFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return l.failLocked("remove the clean-shutdown marker", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked("remove the clean-shutdown marker", err)
	}
	l.cleanMarker = false
	return nil
}

// appendLocked writes one batch with its base offset set to the LEO.
func (l *Log) appendLocked(batch []byte, h *record.Header) error {
	if err := l.noSpaceLocked(); err != nil {
		return err
	}
	if err := l.dropCleanMarkerLocked(); err != nil {
		return err
	}
	if len(l.graveyard) > 0 {
		l.sweepLocked(false)
	}
	s := l.activeLocked()
	if l.shouldRollLocked(s, h) {
		if err := l.rollLocked(); err != nil {
			return err
		}
		s = l.activeLocked()
	}
	if s.size.Load() == 0 {
		s.rollBase = l.nowMs()
	}
	m := s.mark()
	if err := s.append(batch, h, int64(l.opts.IndexIntervalBytes)); err != nil {
		if isNoSpace(err) {
			return l.appendNoSpaceLocked(s, m, h, err)
		}
		return l.failLocked("append", err)
	}
	l.appendSucceededLocked()
	l.leo.Store(h.NextOffset())
	l.unflushed += int64(h.NumRecords)
	if e := h.PartitionLeaderEpoch; e >= 0 {
		if latest, ok := l.epochs.latest(); !ok || e > latest.epoch {
			l.epochs.assign(e, h.BaseOffset)
			l.markEpochsDirty()
		}
	}
	return nil
}

// shouldRollLocked applies Kafka's roll rules before appending h to s.
func (l *Log) shouldRollLocked(s *segment, h *record.Header) bool {
	size := s.size.Load()
	if size == 0 {
		return false
	}
	o := &l.opts
	switch {
	case size+h.Size() > o.SegmentBytes:
	case o.SegmentMs > 0 && l.nowMs()-s.rollBase >= o.SegmentMs:
	case s.idx.len() >= int(o.SegmentIndexBytes)/offsetEntrySize:
	case s.tidx.len() >= int(o.SegmentIndexBytes)/timeEntrySize-1: // room for the final entry
	case !s.relOK(h.LastOffset()):
	default:
		return false
	}
	return true
}

// Roll starts a new active segment at the LEO, if the active one is not
// empty.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if l.activeLocked().size.Load() == 0 {
		return nil
	}
	return l.rollLocked()
}

// rollLocked finishes the active segment and opens a new one where the
// finished one's last batch ends. That is the LEO, except after a
// truncation into a compaction gap, which leaves the LEO past the last
// batch: the new segment then begins with a gap, never after one, so that
// recovery can require each segment to end where the next begins.
// The finished segment is fsynced in the background (syncRolled): a roll
// must not stall appends for the seconds a 1 GiB fsync can take, and until
// it is durable the recovery point stays below it, so an unclean restart
// rescans it.
func (l *Log) rollLocked() error {
	old := l.activeLocked()
	old.finish()
	end := old.next
	synced := l.syncPointLocked(end)
	l.unflushed, l.lastFlush = 0, l.nowMs()
	s, _, err := openSegment(l.fs, l.dir, end, true)
	if err != nil {
		return l.failLocked("roll", err)
	}
	l.setSegmentsLocked(append(slices.Clip(l.segments()), s))
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked("roll", err)
	}
	l.flush.rolls.Add(1)
	go l.syncRolled(old, synced)
	return nil
}

// Flush fsyncs everything written so far.
func (l *Log) Flush() error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	p := l.syncPointLocked(l.leo.Load())
	l.mu.Unlock()
	if err := l.Sync(p); !errors.Is(err, ErrTruncated) {
		return err
	}
	return nil // what was truncated needs no flush
}

// flushLocked fsyncs every segment's files, indexes included (Close).
func (l *Log) flushLocked() error {
	for _, s := range l.segments() {
		if err := s.sync(); err != nil {
			return l.failLocked("flush", err)
		}
	}
	l.unflushed, l.lastFlush = 0, l.nowMs()
	l.flush.advance(l.leo.Load())
	return nil
}

// MaybeFlush applies the FlushMs policy; the broker calls it periodically.
func (l *Log) MaybeFlush() error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	l.sweepLocked(false)
	p := l.flushDueLocked()
	l.mu.Unlock()
	if err := l.Sync(p); !errors.Is(err, ErrTruncated) {
		return err
	}
	return nil // what was truncated needs no flush
}

// flushDueLocked applies the flush policy after an append: if a flush is
// due it claims it (resetting the counters) and returns the point to make
// durable, else the zero SyncPoint.
func (l *Log) flushDueLocked() SyncPoint {
	if l.unflushed == 0 {
		return SyncPoint{}
	}
	if l.unflushed >= l.opts.FlushMessages ||
		(l.opts.FlushMs != math.MaxInt64 && l.nowMs()-l.lastFlush >= l.opts.FlushMs) {
		l.unflushed, l.lastFlush = 0, l.nowMs()
		return l.syncPointLocked(l.leo.Load())
	}
	return SyncPoint{}
}

// SetOptions changes the configuration of an open log; it applies from the
// next append. A nil Now or Logger keeps the current one.
func (l *Log) SetOptions(o Options) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if o.Now == nil {
		o.Now = l.opts.Now
	}
	if o.Logger == nil {
		o.Logger = l.opts.Logger
	}
	l.opts = o.withDefaults()
}

// Slice is a byte range of one segment file holding whole batches.
type Slice struct {
	File      File
	Pos, Size int64
}

// ReadInto appends the slice's bytes to dst.
func (s Slice) ReadInto(dst []byte) ([]byte, error) {
	if s.Size == 0 {
		return dst, nil
	}
	n := len(dst)
	dst = slices.Grow(dst, int(s.Size))[:n+int(s.Size)]
	m, err := s.File.ReadAt(dst[n:], s.Pos)
	if m < int(s.Size) {
		if err == nil {
			err = fmt.Errorf("%w: short read", ErrCorrupt)
		}
		return dst[:n+m], fmt.Errorf("storage: reading %s at %d: %w", s.File.Name(), s.Pos, err)
	}
	return dst, nil
}

// ReadResult is what Read found. An empty result has Slice.Size 0 and
// FirstOffset -1.
type ReadResult struct {
	Slice       Slice
	FirstOffset int64 // base offset of the first batch
}

// Read returns whole batches from one segment with Kafka fetch semantics:
// from the batch holding offset, those ending at or before maxOffset (the
// high watermark, exclusive), at most maxBytes of them, or the first one
// alone if it is larger and minOneBatch is set (KIP-74). offset equal to the
// LEO or at/over maxOffset gives an empty result; offset below the start
// offset or above the LEO gives ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) (ReadResult, error) {
	empty := ReadResult{FirstOffset: -1}
	if err := l.usable(); err != nil {
		return empty, err
	}
	leo := l.leo.Load()
	maxOffset = min(maxOffset, leo)
	if offset < maxOffset {
		limit, err := l.damagedRead(offset)
		if err != nil {
			return empty, err
		}
		maxOffset = min(maxOffset, limit)
	}
	for {
		segs := l.segments()
		if start := l.start.Load(); offset < start || offset > leo {
			return empty, fmt.Errorf("%w: %d is outside [%d, %d]", ErrOffsetOutOfRange, offset, start, leo)
		}
		if offset >= maxOffset {
			return empty, nil
		}
		i := segmentFor(segs, offset)
		retry := false
		for ; i < len(segs); i++ {
			s := segs[i]
			if !s.acquire() { // removed underneath us: look again
				retry = true
				break
			}
			res, found, err := s.read(offset, int64(max(maxBytes, 0)), maxOffset, minOneBatch)
			s.release()
			if err != nil || found {
				return res, err
			}
		}
		if !retry {
			return empty, nil
		}
	}
}

// segmentFor is the index of the last segment with base ≤ offset (0 if none).
func segmentFor(segs []*segment, offset int64) int {
	lo, hi := 0, len(segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if segs[m].base <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// FindTimestamp returns the first batch at or after the start offset whose
// max timestamp is ≥ ts (ListOffsets by timestamp). Like Read it takes no
// lock; a segment removed underneath it sends it back to the new segment
// list.
func (l *Log) FindTimestamp(ts int64) (batch []byte, ok bool, err error) {
	if err := l.usable(); err != nil {
		return nil, false, err
	}
	buf := make([]byte, record.HeaderSize)
retry:
	for {
		start := l.start.Load()
		for _, s := range l.segments() {
			if s.readMaxTs.Load() < ts { // before the size: see readMaxTs
				continue
			}
			if !s.acquire() {
				continue retry
			}
			b, found, err := s.findTimestamp(buf, ts, max(start, s.base), s.size.Load())
			s.release()
			if err != nil || found {
				return b, found, err
			}
		}
		return nil, false, nil
	}
}

// MaxTimestampBatch returns the first batch carrying the log's largest
// timestamp; ok is false when no batch has a timestamp. It takes no lock.
func (l *Log) MaxTimestampBatch() (batch []byte, ok bool, err error) {
	if err := l.usable(); err != nil {
		return nil, false, err
	}
	buf := make([]byte, record.HeaderSize)
	for {
		list := l.segs.Load()
		var best *segment
		bestTs := int64(-1)
		for _, s := range *list {
			if ts := s.readMaxTs.Load(); ts > bestTs {
				best, bestTs = s, ts
			}
		}
		if best == nil {
			return nil, false, nil
		}
		if !best.acquire() {
			continue // removed underneath us: look again
		}
		b, found, err := best.findTimestamp(buf, bestTs, best.base, best.size.Load())
		best.release()
		if err != nil || found {
			return b, found, err
		}
		if l.segs.Load() == list && best.readMaxTs.Load() == bestTs {
			return nil, false, nil // nothing changed: it is not there
		}
		// A truncation lowered it meanwhile: look again.
	}
}
