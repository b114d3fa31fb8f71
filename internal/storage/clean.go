package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
)

// The log cleaner (compaction, cleanup.policy=compact), as Kafka's:
//
//   - The log is split at the first dirty offset, persisted in
//     cleaner-offset-checkpoint in the partition directory ("0\n<offset>\n",
//     the layout of the other checkpoints): offsets below it have been
//     cleaned, those above not yet. The cleanable (dirty) section runs from
//     it to the first uncleanable offset: the active segment's base, or the
//     base of the first segment holding a record younger than
//     min.compaction.lag.ms.
//   - A pass maps every key of the dirty section to its latest offset in an
//     OffsetMap of fixed size. When the map fills, the pass maps only up to
//     there (End) and the rest waits for the next pass.
//   - It then rewrites every closed segment from the log start up to End,
//     one file for one file (segments left small are not merged), keeping
//     a record if it lies at or after End, or its key is not in the map, or
//     the map names its offset, except tombstones past their time (below).
//     Records without a key are dropped, as Kafka drops them: compacted
//     topics refuse them at produce, but the topic may have been a delete
//     topic before. Offsets are preserved: the log gets gaps.
//   - Tombstones (null values) are dropped from a segment once more than
//     delete.retention.ms has passed since the segment was last appended to:
//     its .log file's modification time, which a rewrite carries over to
//     the cleaned file (Kafka before KIP-534 measured the same time from
//     the newest cleaned segment's instead of from now).
//   - A batch is kept, emptied of records, when it is the last batch of its
//     segment (so a segment's batches still end where the next segment
//     begins, which recovery relies on to detect a lost tail) or the last
//     batch of an idempotent producer (so its sequence survives a restart,
//     as in Kafka).
//   - Crash safety: a segment's replacement is written to <base>.log.cleaned
//     and index files <base>.index.cleaned and <base>.timeindex.cleaned,
//     fsynced; then, under Log.mu, the old index files are deleted (the
//     directory fsynced), the .log.cleaned file renamed over the .log, the
//     indexes renamed into place and the directory fsynced again. A crash
//     leaves the old .log or the new one, never a mix: recovery deletes
//     *.cleaned files and rebuilds missing indexes. Segments are rewritten
//     oldest first, so a tombstone never goes before the older values it
//     hides.
//   - The new segment replaces the old in the copy-on-write segment list;
//     the old one goes to the graveyard for file.delete.delay.ms, so reads
//     in flight (and sendfile of its file) stay valid. Unlike a segment
//     deleted by retention or truncation, it has no *.deleted files: the
//     rename that installs the new .log is what makes the swap atomic, so
//     the old data lives on only in its open file until the sweep closes
//     it. Appends to the active segment carry on
//     meanwhile; truncation or closing the log makes the pass give up.

// cleanerCheckpointFile holds the first dirty offset.
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// ErrCleanAborted reports a cleaning pass given up because the log was
// truncated meanwhile; nothing was lost and the next pass starts over.
var ErrCleanAborted = errors.New("storage: cleaning aborted by a truncation")

// cleanState is a log's cleaner bookkeeping.
type cleanState struct {
	mu sync.Mutex // one pass at a time

	truncations atomic.Int64 // bumped under Log.mu by every truncation

	// Guarded by Log.mu.
	loaded     bool
	firstDirty int64 // valid when loaded
}

// CleanOptions configure one cleaning pass.
type CleanOptions struct {
	Map                *OffsetMap // required; reused from pass to pass
	DeleteRetentionMs  int64      // delete.retention.ms
	MinCompactionLagMs int64      // min.compaction.lag.ms
	// ProducerLastOffsets maps producer ids to the last offset of their
	// newest batch: those batches are kept even when emptied.
	ProducerLastOffsets map[int64]int64
	Throttle            *Throttle // nil: no limit
}

// CleanStats describe one cleaning pass.
type CleanStats struct {
	FirstDirty int64 // the first dirty offset the pass started from
	End        int64 // offsets below End are clean now (the new first dirty offset)
	MapFull    bool  // the map filled before the end of the cleanable section

	SegmentsRead, SegmentsRewritten int
	BytesRead, BytesWritten         int64 // bytes read (both phases) and written
	SizeBefore, SizeAfter           int64 // of the segments rewritten
	RecordsRemoved                  int64
	TombstonesRemoved               int64
	BatchesRemoved                  int64
	MapEntries                      int
	MapUtilization                  float64
}

// Cleanable describes a log's dirty section for choosing what to clean.
type Cleanable struct {
	FirstDirty       int64
	FirstUncleanable int64 // the cleanable section is [FirstDirty, FirstUncleanable)
	CleanBytes       int64 // bytes below FirstDirty
	DirtyBytes       int64 // bytes of the cleanable section
	// FirstDirtyTimestamp is the max timestamp of the first batch at or
	// after FirstDirty in a closed segment (-1 if none), for
	// max.compaction.lag.ms.
	FirstDirtyTimestamp int64
}

// DirtyRatio is Kafka's cleanable ratio: dirty bytes over all bytes below
// the first uncleanable offset.
func (c Cleanable) DirtyRatio() float64 {
	if c.DirtyBytes <= 0 {
		return 0
	}
	return float64(c.DirtyBytes) / float64(c.CleanBytes+c.DirtyBytes)
}

// cleanSeg is a closed segment as a pass sees it, captured under Log.mu.
type cleanSeg struct {
	s     *segment
	size  int64
	next  int64
	mtime time.Time
}

// cleanPlan is what a pass works on.
type cleanPlan struct {
	segs        []cleanSeg // closed segments with base < uncleanable, ascending; each acquired
	firstDirty  int64
	uncleanable int64
	truncations int64
	interval    int64
	now         time.Time
}

// release drops the pass's references to its segments (once).
func (p *cleanPlan) release() {
	for _, cs := range p.segs {
		cs.s.release()
	}
	p.segs = nil
}

// loadCleanerCheckpointLocked reads the first dirty offset once.
func (l *Log) loadCleanerCheckpointLocked() {
	c := &l.cleaner
	if c.loaded {
		return
	}
	c.loaded, c.firstDirty = true, 0
	data, ok, err := readFile(l.fs, l.dir, cleanerCheckpointFile)
	if err == nil && ok {
		c.firstDirty, err = decodeOffset(cleanerCheckpointFile, data)
	}
	if err != nil {
		l.opts.Logger.Warn("storage: ignoring cleaner checkpoint", "dir", l.dir, "err", err)
		c.firstDirty = 0
	}
}

func (l *Log) persistCleanerCheckpointLocked() error {
	data := []byte(checkpointVersion + "\n" + strconv.FormatInt(l.cleaner.firstDirty, 10) + "\n")
	return writeFileAtomic(l.fs, l.dir, cleanerCheckpointFile, data)
}

// cleanerTruncatedLocked tells the cleaner the log was cut to end offset
// off: a pass under way gives up, and the first dirty offset comes down to
// off (Kafka's maybeTruncateCheckpoint).
func (l *Log) cleanerTruncatedLocked(off int64) {
	c := &l.cleaner
	c.truncations.Add(1)
	l.loadCleanerCheckpointLocked()
	if c.firstDirty > off {
		c.firstDirty = off
		if err := l.persistCleanerCheckpointLocked(); err != nil {
			// Only compaction is delayed: a stale checkpoint above the
			// LEO is reset at the next pass.
			l.opts.Logger.Warn("storage: lowering the cleaner checkpoint", "dir", l.dir, "err", err)
		}
	}
}

// FirstDirtyOffset is the cleaner's first dirty offset: offsets below it
// have been compacted.
func (l *Log) FirstDirtyOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loadCleanerCheckpointLocked()
	return l.firstDirtyLocked()
}

// firstDirtyLocked is the checkpoint brought within [start, LEO].
func (l *Log) firstDirtyLocked() int64 {
	fd, start := l.cleaner.firstDirty, l.start.Load()
	if fd < start || fd > l.leo.Load() {
		return start
	}
	return fd
}

// firstUncleanableLocked is the end of the cleanable section starting at
// firstDirty: the active segment's base, or the base of the first segment
// holding dirty offsets with a record younger than minLagMs.
func (l *Log) firstUncleanableLocked(segs []*segment, firstDirty, minLagMs int64) int64 {
	end := segs[len(segs)-1].base
	if minLagMs <= 0 {
		return end
	}
	now := l.nowMs()
	for _, s := range segs[:len(segs)-1] {
		if s.next <= firstDirty {
			continue
		}
		if l.largestTimestampLocked(s) > now-minLagMs {
			return s.base
		}
	}
	return end
}

// Cleanable measures the log's dirty section with min.compaction.lag.ms
// minLagMs, for the cleaner to choose the dirtiest log.
func (l *Log) Cleanable(minLagMs int64) (Cleanable, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return Cleanable{}, err
	}
	l.loadCleanerCheckpointLocked()
	segs := l.segments()
	c := Cleanable{FirstDirty: l.firstDirtyLocked(), FirstDirtyTimestamp: -1}
	c.FirstUncleanable = l.firstUncleanableLocked(segs, c.FirstDirty, minLagMs)
	buf := make([]byte, record.HeaderSize)
	for _, s := range segs[:len(segs)-1] {
		size := s.size.Load()
		switch {
		case s.next <= c.FirstDirty:
			c.CleanBytes += size
		case s.base >= c.FirstUncleanable:
		default:
			var pos int64
			if c.FirstDirty > s.base {
				_, p, found, err := s.seek(buf, c.FirstDirty, size)
				if err != nil {
					return c, err
				}
				if pos = size; found {
					pos = p
				}
				c.CleanBytes += pos
			}
			c.DirtyBytes += size - pos
			if c.FirstDirtyTimestamp < 0 && pos < size {
				h, err := s.header(buf, pos, size)
				if err != nil {
					return c, s.readErr(err, pos)
				}
				c.FirstDirtyTimestamp = h.MaxTimestamp
			}
		}
	}
	return c, nil
}

// Clean runs one cleaning pass (see the comment at the top of this file)
// and returns what it did. Only one pass runs on a log at a time. A pass
// that fails leaves the log as it was, except for the segments already
// replaced, each of which is whole; only a failure after a segment's .log
// was replaced fails the log (ErrStorage).
func (l *Log) Clean(ctx context.Context, o CleanOptions) (st CleanStats, err error) {
	if o.Map == nil {
		return CleanStats{}, errors.New("storage: Clean needs an offset map")
	}
	l.cleaner.mu.Lock()
	defer l.cleaner.mu.Unlock()
	p, err := l.planClean(o.MinCompactionLagMs)
	if err != nil {
		return CleanStats{}, err
	}
	defer p.release()
	st = CleanStats{FirstDirty: p.firstDirty, End: p.firstDirty}
	if p.firstDirty >= p.uncleanable {
		return st, nil
	}
	cp := &cleanPass{l: l, cleanPlan: p, o: &o, st: &st}
	cp.io = cleanIO{ctx: ctx, l: l, throttle: o.Throttle, truncations: p.truncations}
	cp.sc.io, cp.prefix.io = &cp.io, &cp.io
	defer func() { st.BytesRead, st.BytesWritten = cp.io.read, cp.io.written }()
	end, err := cp.buildOffsetMap()
	if err != nil {
		return st, err
	}
	st.MapEntries, st.MapUtilization = o.Map.Len(), o.Map.Utilization()
	cp.end = end
	for _, cs := range p.segs {
		if cs.s.base >= end {
			break
		}
		if err := cp.cleanSegment(cs); err != nil {
			return st, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// The replaced segments wait in the graveyard for this pass's
	// references too: with them gone, their delay may already be over.
	p.release()
	l.sweepLocked(false)
	if err := l.usable(); err != nil {
		return st, err
	}
	if l.cleaner.truncations.Load() != p.truncations {
		return st, ErrCleanAborted
	}
	l.cleaner.firstDirty = end
	if err := l.persistCleanerCheckpointLocked(); err != nil {
		return st, fmt.Errorf("storage: cleaner checkpoint %s: %w", l.dir, err)
	}
	st.End = end
	return st, nil
}

// planClean captures, under Log.mu, the closed segments a pass may read
// (acquiring them) and the cleanable section.
func (l *Log) planClean(minLagMs int64) (*cleanPlan, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return nil, err
	}
	l.loadCleanerCheckpointLocked()
	segs := l.segments()
	p := &cleanPlan{
		firstDirty:  l.firstDirtyLocked(),
		truncations: l.cleaner.truncations.Load(),
		interval:    int64(l.opts.IndexIntervalBytes),
		now:         l.opts.Now(),
	}
	p.uncleanable = l.firstUncleanableLocked(segs, p.firstDirty, minLagMs)
	for _, s := range segs[:len(segs)-1] {
		if s.base >= p.uncleanable {
			break
		}
		fi, err := s.log.Stat()
		if err != nil {
			p.release()
			return nil, l.failLocked("clean", err)
		}
		if !s.acquire() {
			continue
		}
		p.segs = append(p.segs, cleanSeg{s: s, size: s.size.Load(), next: s.next, mtime: fi.ModTime()})
	}
	return p, nil
}
