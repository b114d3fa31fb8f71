package storage

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
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
type flushState struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled when an fsync finishes; uses mu
	syncing bool       // an fsync is running; guarded by mu
	durable int64      // recovery point; guarded by mu
	saved   int64      // the recovery point last persisted; guarded by mu

	rolls sync.WaitGroup // background syncs of rolled segments
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

// lowerRecoveryPoint caps the recovery point at to, the log end offset a
// truncation is about to leave, and persists it before returning. The
// truncation calls it under Log.mu before it changes any file, so no append
// can write above to before the lowered value is on disk, and a crash in the
// middle of the truncation rescans everything above to.
func (l *Log) lowerRecoveryPoint(to int64) error {
	return l.checkpointRecoveryPoint(to)
}

// RecoveryPoint is the offset below which every batch is durable.
func (l *Log) RecoveryPoint() int64 {
	l.flush.mu.Lock()
	defer l.flush.mu.Unlock()
	return l.flush.durable
}

// Sync returns once every batch below upTo is on disk, fsyncing the log
// files written since the last fsync if no running one covers them. Only
// record data is synced: indexes are rebuilt from it by recovery.
func (l *Log) Sync(upTo int64) error {
	f := &l.flush
	f.mu.Lock()
	defer f.mu.Unlock()
	// A truncation may have removed offsets up to upTo: only what still
	// exists (below the LEO) can be waited for.
	for f.durable < min(upTo, l.leo.Load()) {
		if err := l.usable(); err != nil {
			return err
		}
		if f.syncing {
			f.cond.Wait()
			continue
		}
		f.syncing = true
		from, target := f.durable, l.leo.Load()
		segs := l.segments()
		f.mu.Unlock()
		err := syncData(segs, from)
		f.mu.Lock()
		f.syncing = false
		f.cond.Broadcast()
		if err != nil {
			return l.fail("fsync", err)
		}
		f.durable = max(f.durable, target)
	}
	return nil
}

// syncData fsyncs the .log file of every segment holding offsets at or
// above from. A segment's range ends where the next one's begins.
func syncData(segs []*segment, from int64) error {
	for i, s := range segs {
		if i+1 < len(segs) && segs[i+1].base <= from {
			continue
		}
		if err := s.log.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// syncRolled makes a just-rolled segment durable in the background, with
// its indexes, and persists the new recovery point.
func (l *Log) syncRolled(s *segment, end int64) {
	defer l.flush.rolls.Done()
	err := l.Sync(end)
	// The segment may have been replaced meanwhile (compaction,
	// retention): its files are then closed or about to be.
	if err == nil && s.acquire() {
		err = errors.Join(s.idx.f.Sync(), s.tidx.f.Sync())
		s.release()
	}
	if err == nil {
		err = l.checkpointRecoveryPoint(math.MaxInt64)
	}
	if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrStorage) {
		l.fail("sync rolled segment", err)
	}
}

// checkpointRecoveryPoint caps the recovery point at lowerTo
// (math.MaxInt64: no cap) and persists it if it differs from the value last
// persisted. A failure to persist fails the log.
func (l *Log) checkpointRecoveryPoint(lowerTo int64) error {
	f := &l.flush
	f.mu.Lock()
	defer f.mu.Unlock()
	f.durable = min(f.durable, lowerTo)
	if f.durable == f.saved {
		return nil
	}
	if err := l.usable(); err != nil {
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
