package partition

// The produce contract. Produce is the one way a batch gets into a
// partition's log as its leader: the produce handler and the internal
// topics' coordinators (__consumer_offsets) both call it, and nothing else
// decides when an append is acknowledged. It checks, appends and registers
// the acknowledgement in one critical section under Partition.mu, so that
// what the acknowledgement waits for is fixed at append time:
//
//   - acks=-1 is refused (nothing appended) while the ISR is smaller than
//     min.insync.replicas (NOT_ENOUGH_REPLICAS);
//   - the flush policy's fsync (flush.messages) runs in Ack.Wait, outside
//     the lock, shared with concurrent appends (group commit);
//   - acks=-1 then waits for the high watermark to pass the batch; the
//     waiter is registered at append, like Kafka's delayed produce, and is
//     completed by the HW advance that covers it;
//   - any leadership change between append and completion (becoming a
//     follower, a new leader epoch, closing) fails the acknowledgement with
//     ErrNotLeader: the batch may be truncated away, so it was never
//     acknowledged;
//   - after the HW passed it, an ISR shrunk below min.insync.replicas
//     answers NOT_ENOUGH_REPLICAS_AFTER_APPEND, as Kafka's DelayedProduce.

import (
	"context"
	"fmt"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/storage"
)

// Acks levels of a produce request.
const (
	AcksNone   int16 = 0
	AcksLeader int16 = 1
	AcksAll    int16 = -1
)

// Ack is the acknowledgement of one Produce: Wait returns once the batch is
// durable by the policy it was appended under, or why it is not. The zero
// Ack (a refused batch) waits for nothing.
type Ack struct {
	Result AppendResult

	p          *Partition
	leadership uint64            // Partition.leadership at append
	syncTo     storage.SyncPoint // the fsync due before acknowledging, if Due
	commit     *commitWaiter
	minISR     int32 // acks=-1: checked again once committed; 0 otherwise
}

// commitWaiter is an acks=-1 batch waiting for the HW to pass last. It is
// completed (done closed, err set before) under Partition.rmu.
type commitWaiter struct {
	last int64
	done chan struct{}
	err  error
}

// Produce validates batch against the producer state and the topic's rules
// (cfg), stamps the leader epoch (and LogAppendTime), assigns offsets,
// appends it and returns its acknowledgement. h must come from
// record.Validate(batch). A duplicate of a recent idempotent batch is not
// appended again: the acknowledgement carries the original offsets and
// waits for them, as Kafka answers.
func (p *Partition) Produce(batch []byte, h *record.Header, acks int16, cfg *AppendConfig) (Ack, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1}
	var err error
	if cfg.Recompress && h.Codec() != cfg.Compression {
		if batch, err = record.Recompress(batch, cfg.Compression); err != nil {
			return Ack{Result: res}, err
		}
		if *h, err = record.ReadHeader(batch); err != nil {
			return Ack{Result: res}, err
		}
	}
	if h.Size() > cfg.MaxMessageBytes {
		return Ack{Result: res}, fmt.Errorf("%w: %d > %d", ErrMessageTooLarge, h.Size(), cfg.MaxMessageBytes)
	}
	if cfg.RequireKeys {
		if err := record.RequireKeys(batch); err != nil {
			return Ack{Result: res}, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return Ack{Result: res}, ErrClosed
	}
	if p.role.Load() != roleLeader {
		return Ack{Result: res}, ErrNotLeader
	}
	res.LogStartOffset = p.log.StartOffset()
	if acks == AcksAll && p.InSyncCount() < int(cfg.MinInsyncReplicas) {
		return Ack{Result: res}, fmt.Errorf("%w: %d in sync, min.insync.replicas %d", ErrNotEnoughReplicas, p.InSyncCount(), cfg.MinInsyncReplicas)
	}
	now := p.now().UnixMilli()
	if !cfg.LogAppendTime {
		if err := checkTimestamps(h, now, cfg); err != nil {
			return Ack{Result: res}, err
		}
	}
	ack := Ack{p: p, leadership: p.leadership.Load()}
	if acks == AcksAll {
		ack.minISR = cfg.MinInsyncReplicas
	}
	if h.Idempotent() {
		dup, isDup, err := p.producers.check(h)
		if err != nil {
			return Ack{Result: res}, err
		}
		if isDup {
			res.BaseOffset = dup.FirstOffset
			if cfg.LogAppendTime {
				res.LogAppendTime = dup.Timestamp
			}
			ack.Result = res
			if acks == AcksAll {
				ack.commit = p.awaitCommitLocked(dup.FirstOffset + int64(dup.LastSeq-dup.FirstSeq))
			}
			// (With flush.messages=1 a retry racing its original's fsync
			// may be acknowledged a moment before that fsync ends.)
			return ack, nil
		}
	}
	record.SetPartitionLeaderEpoch(batch, p.leaderEpoch.Load())
	if cfg.LogAppendTime {
		record.SetLogAppendTime(batch, now)
		h.MaxTimestamp = now
		res.LogAppendTime = now
	}
	base, syncTo, err := p.log.AppendAsync(batch)
	if err != nil {
		return Ack{Result: res}, err
	}
	h.BaseOffset = base
	res.BaseOffset = base
	if h.Idempotent() {
		p.producers.update(h)
	}
	ack.Result, ack.syncTo = res, syncTo
	if acks == AcksAll {
		ack.commit = p.awaitCommitLocked(h.LastOffset())
	}
	p.wake()
	return ack, nil
}

// awaitCommitLocked registers a wait for the HW to pass last (p.mu held),
// or returns nil if it already has. While the maximal ISR is this broker
// alone the HW is the log end, so an appended batch is committed at once.
func (p *Partition) awaitCommitLocked(last int64) *commitWaiter {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.HighWatermark() > last {
		return nil
	}
	w := &commitWaiter{last: last, done: make(chan struct{})}
	p.rs.waiters = append(p.rs.waiters, w)
	return w
}

// completeWaitersLocked completes the acks=-1 waiters the HW has passed
// (rmu held). Waiters are registered in offset order, except duplicates,
// which are rare: those left behind complete at a later advance.
func (p *Partition) completeWaitersLocked() {
	hw := p.HighWatermark()
	n := 0
	for _, w := range p.rs.waiters {
		if w.last >= hw {
			break
		}
		close(w.done)
		n++
	}
	if n > 0 {
		clear(p.rs.waiters[:n])
		p.rs.waiters = p.rs.waiters[n:]
	}
}

// failWaitersLocked fails every acks=-1 waiter (rmu held): leadership is
// lost, or the partition closes.
func (p *Partition) failWaitersLocked(err error) {
	for _, w := range p.rs.waiters {
		w.err = err
		close(w.done)
	}
	clear(p.rs.waiters)
	p.rs.waiters = p.rs.waiters[:0]
}

// Pending reports whether Wait has anything to wait for: without an fsync
// or an ISR to wait for, the batch is acknowledged at append.
func (a Ack) Pending() bool { return a.syncTo.Due() || a.commit != nil }

// Wait returns nil once the batch is acknowledged by its policy, or the
// reason it is not: the fsync failed (or the batch was truncated before
// it: storage.ErrTruncated), leadership changed since the append (ErrNotLeader), the ISR shrank
// below min.insync.replicas (ErrNotEnoughReplicasAfterAppend), or ctx ended
// first (ctx.Err()).
func (a Ack) Wait(ctx context.Context) error {
	p := a.p
	if !a.Pending() {
		return nil
	}
	if a.syncTo.Due() {
		if err := p.log.Sync(a.syncTo); err != nil {
			return err
		}
	}
	if w := a.commit; w != nil {
		select {
		case <-w.done:
			if w.err != nil {
				return w.err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if p.leadership.Load() != a.leadership {
		return fmt.Errorf("%w: leadership of %s changed since offset %d was appended", ErrNotLeader, p.name(), a.Result.BaseOffset)
	}
	if a.minISR > 0 {
		if n := p.InSyncCount(); n < int(a.minISR) {
			return fmt.Errorf("%w: %d in sync, min.insync.replicas %d", ErrNotEnoughReplicasAfterAppend, n, a.minISR)
		}
	}
	return nil
}
