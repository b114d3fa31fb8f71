package storage

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// flushState is the log's durability bookkeeping, apart from Log.mu so that
// fsyncs never hold up appends.
//
// Group commit: any number of writers may wait in Sync for their offsets to
// become durable; one of them at a time runs fsync on the segments written
// since the last one, covering every batch published (LEO) before it
// started, and all waiters it covered return together. Writers that arrive
// during an fsync are covered by the next one.
//
// The recovery point ("durable") is the offset below which every batch is
// known to be on disk. It is persisted in recovery-point-offset-checkpoint
// (Kafka's name and layout), and an unclean start rescans every segment that
// ends above the persisted value, so the persisted value must never exceed
// what is durable. The log alone writes it, no caller has to:
//   - raised after a rolled segment is synced (syncRolled). This is the
//     periodic checkpoint: every segment below the active one gets it, and
//     the active segment is rescanned after a crash anyway, so checkpointing
//     more often (Kafka's log.flush.offset.checkpoint.interval.ms) would
//     shorten no recovery;
//   - at clean shutdown, and at Open once recovery has synced what it kept;
//   - lowered by every truncation before the truncation touches a file and
//     before anything can be appended above the truncation point
//     (lowerRecoveryPoint), as Kafka lowers and checkpoints it when it
//     truncates: a crash after the truncation rescans the segments above.
//
// Sync points: an append that must be durable before it is acknowledged
// gets a SyncPoint, its end offset plus the log's truncation count (gen)
// at the time. Every truncation bumps gen and records where it cut (cuts),
// so Sync can tell that a truncation removed the append, even when the log
// has grown past its end offset again with other data since.
//
// Methods of flushState ending in Locked need flushState.mu.
type flushState struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled when an fsync finishes; uses mu
	syncing bool       // an fsync is running; guarded by mu
	durable int64      // recovery point; guarded by mu
	saved   int64      // the recovery point last persisted; guarded by mu

	// gen counts truncations. It changes under both Log.mu and mu, so an
	// append (under Log.mu) reads it without mu.
	gen  atomic.Uint64
	cuts []cut // guarded by mu; see recordCutLocked

	rolls sync.WaitGroup // background syncs of rolled segments
}

// cut records that truncation number gen removed every offset ≥ at.
type cut struct {
	gen uint64
	at  int64
}

// maxCuts bounds the truncations flushState remembers (see recordCutLocked).
const maxCuts = 32

// ErrTruncated is Sync's answer when a truncation removed offsets it was
// asked to make durable before it could confirm them: what the append
// wrote is gone, whatever the log holds at those offsets now.
var ErrTruncated = errors.New("storage: truncated before it was flushed")

// A SyncPoint names what an append asks Sync to make durable: the log up to
// the end of the append's batches, as they were written then. The zero
// SyncPoint asks for nothing. It is a small value: taking one allocates
// nothing.
type SyncPoint struct {
	end int64  // offsets below end must be durable
	gen uint64 // the log's truncation count when the point was taken
}

// Due reports whether the point asks for an fsync.
func (p SyncPoint) Due() bool { return p.end > 0 }

// Offset is the offset below which the point asks every batch to be
// durable (0 for the zero point).
func (p SyncPoint) Offset() int64 { return p.end }

// syncPointLocked names the log as it is now up to end.
func (l *Log) syncPointLocked(end int64) SyncPoint {
	return SyncPoint{end: end, gen: l.flush.gen.Load()}
}

// init starts the bookkeeping at Open: durable is the recovered log end,
// saved the persisted recovery point (-1 if none).
func (f *flushState) init(durable, saved int64) {
	f.cond = sync.NewCond(&f.mu)
	f.durable, f.saved = durable, saved
}

// advance raises the recovery point after a flush done under Log.mu.
func (f *flushState) advance(to int64) {
	f.mu.Lock()
	f.durable = max(f.durable, to)
	f.mu.Unlock()
}

// recordCutLocked counts a truncation that removed every offset ≥ at.
// cuts keeps, oldest first, the truncations that may still fail a Sync:
// gen and at both strictly increase, because a cut hides every earlier cut
// at or above it (the lowest cut since a point is what matters), so the
// first entry newer than a point is the lowest cut since that point. Past
// maxCuts (only ever higher and higher cuts) the two oldest merge into one
// with the newer's gen and the older's offset: points older than the newer
// then see a lower cut than the truth, which can fail a Sync whose append
// survived, never the reverse.
func (f *flushState) recordCutLocked(at int64) {
	gen := f.gen.Add(1)
	n := len(f.cuts)
	for n > 0 && f.cuts[n-1].at >= at {
		n--
	}
	f.cuts = append(f.cuts[:n], cut{gen: gen, at: at})
	if len(f.cuts) > maxCuts {
		f.cuts[1].at = f.cuts[0].at
		f.cuts = append(f.cuts[:0], f.cuts[1:]...)
	}
}

// cutSinceLocked is the lowest offset a truncation after generation gen
// cut the log at, math.MaxInt64 if none did.
func (f *flushState) cutSinceLocked(gen uint64) int64 {
	if gen != f.gen.Load() {
		for _, c := range f.cuts {
			if c.gen > gen {
				return c.at
			}
		}
	}
	return math.MaxInt64
}

// lowerRecoveryPoint records a truncation that removes every offset ≥ at
// and caps the recovery point there, persisting it before returning. The
// truncation calls it under Log.mu before it changes any file, so no append
// can write above at before the lowered value is on disk, and a crash in
// the middle of the truncation rescans everything above at.
func (l *Log) lowerRecoveryPoint(at int64) error {
	f := &l.flush
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordCutLocked(at)
	f.durable = min(f.durable, at)
	return f.saveLocked(l)
}

// RecoveryPoint is the offset below which every batch is durable.
func (l *Log) RecoveryPoint() int64 {
	l.flush.mu.Lock()
	defer l.flush.mu.Unlock()
	return l.flush.durable
}

// Sync returns once what the append p names is on disk, fsyncing the log
// files written since the last fsync if no running one covers them. Only
// record data is synced: indexes are rebuilt from it by recovery. It fails
// with ErrTruncated if a truncation removed any offset below p.Offset()
// before Sync could confirm it, even if the log has since grown past it
// again (a leader turned follower truncates what it had not replicated;
// the producer must not be told it is stored). The zero point returns nil.
func (l *Log) Sync(p SyncPoint) error {
	if !p.Due() {
		return nil
	}
	f := &l.flush
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if at := f.cutSinceLocked(p.gen); at < p.end {
			return fmt.Errorf("%w: asked to sync below %d, the log was cut at %d", ErrTruncated, p.end, at)
		}
		if f.durable >= p.end {
			return nil
		}
		if err := f.roundLocked(l); err != nil {
			return err
		}
	}
}

// roundLocked waits for the fsync under way, or runs one covering every
// batch published so far; mu is released meanwhile.
func (f *flushState) roundLocked(l *Log) error {
	if err := l.usable(); err != nil {
		return err
	}
	if f.syncing {
		f.cond.Wait()
		return nil
	}
	f.syncing = true
	gen, from, target := f.gen.Load(), f.durable, l.leo.Load()
	segs := l.segments() // after the LEO: it holds every batch below target
	f.mu.Unlock()
	start := time.Now()
	err := syncData(segs, from)
	if l.onFlush != nil {
		l.onFlush(time.Since(start))
	}
	f.mu.Lock()
	f.syncing = false
	f.cond.Broadcast()
	if err != nil {
		return l.fail("fsync", err)
	}
	// A truncation meanwhile may have replaced synced offsets below
	// target by unsynced ones: then the next round decides.
	if f.gen.Load() == gen {
		f.durable = max(f.durable, target)
	}
	return nil
}

// syncData fsyncs the .log file of every segment holding offsets at or
// above from. A segment's range ends where the next one's begins. Segments
// removed from the log meanwhile are skipped (their files may be closed):
// what they held is below the start offset, truncated (which changes gen),
// or in a cleaned replacement synced before it was installed.
func syncData(segs []*segment, from int64) error {
	for i, s := range segs {
		if i+1 < len(segs) && segs[i+1].base <= from {
			continue
		}
		if !s.acquire() {
			continue
		}
		err := s.log.Sync()
		s.release()
		if err != nil {
			return err
		}
	}
	return nil
}

// syncRolled makes a just-rolled segment durable in the background, with
// its indexes, and persists the new recovery point. A truncation into the
// segment meanwhile leaves nothing to do: the truncation synced what it
// kept and lowered the recovery point itself.
func (l *Log) syncRolled(s *segment, p SyncPoint) {
	defer l.flush.rolls.Done()
	err := l.Sync(p)
	if errors.Is(err, ErrTruncated) {
		return
	}
	// The segment may have been replaced meanwhile (compaction,
	// retention): its files are then closed or about to be.
	if err == nil && s.acquire() {
		err = s.persistIndexes()
		s.release()
	}
	if err == nil {
		err = l.checkpointRecoveryPoint()
	}
	if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrStorage) {
		l.fail("sync rolled segment", err)
	}
}

// checkpointRecoveryPoint persists the recovery point if it moved.
func (l *Log) checkpointRecoveryPoint() error {
	f := &l.flush
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.saveLocked(l)
}

// saveLocked persists the recovery point if it differs from the value last
// persisted. A failure fails the log.
func (f *flushState) saveLocked(l *Log) error {
	if f.durable == f.saved {
		return nil
	}
	if err := l.usable(); err != nil {
		return err
	}
	// The epochs of the batches below the new recovery point must be in
	// the epoch checkpoint first: recovery rebuilds only those above it.
	if err := l.flushEpochs(); err != nil {
		return err
	}
	data := []byte(checkpointVersion + "\n" + strconv.FormatInt(f.durable, 10) + "\n")
	if err := writeFileAtomic(l.fs, l.dir, recoveryPointFile, data); err != nil {
		return l.fail("checkpoint recovery point", err)
	}
	f.saved = f.durable
	return nil
}

// readRecoveryPoint returns the persisted recovery point, or ok=false.
func (l *Log) readRecoveryPoint() (int64, bool) {
	data, ok, err := readFile(l.fs, l.dir, recoveryPointFile)
	if err != nil || !ok {
		return 0, false
	}
	off, err := decodeOffset(recoveryPointFile, data)
	if err != nil {
		l.opts.Logger.Warn("storage: ignoring recovery point checkpoint", "dir", l.dir, "err", err)
		return 0, false
	}
	return off, true
}

// fail makes err sticky (like failLocked, without needing Log.mu).
func (l *Log) fail(op string, err error) error {
	if old := l.Err(); old != nil {
		return old
	}
	err = fmt.Errorf("%w: %s %s: %w", ErrStorage, op, l.dir, err)
	if l.failed.CompareAndSwap(nil, &err) {
		l.logger.Error("storage: log failed, refusing writes", "dir", l.dir, "op", op, "err", err)
		return err
	}
	return l.Err()
}
