package group

import (
	"context"
	"fmt"
	"time"
)

// Writes. A shard appends its records with s.mu held, so that its log has
// them in the order its state changes were decided, but waits for their
// acknowledgement (the ISR has them) with no lock held, so that a slow
// follower of __consumer_offsets stalls only the requests waiting on that
// write, not the shard's other groups, nor Tick. Requests that answer once
// the write is durable (OffsetCommit, SyncGroup's leader, a static member's
// rejoin, DeleteGroups, OffsetDelete) wait in their own goroutine and apply
// the write's effect under s.mu again, checking that the group is still the
// one written; writes nobody waits for (empty group metadata after a
// rebalance, tombstones of expired offsets and deleted topics) are watched
// by a goroutine that logs a failure. Every wait ends when the shard
// unloads.

// commitTimeout bounds the wait for a write's acknowledgement, as
// offsets.commit.timeout.ms does in Kafka (default 5 s).
const commitTimeout = 5 * time.Second

// write is a batch in the shard's log; its acknowledgement may be pending.
type write struct {
	base int64 // the log offset of its first record
	ack  Ack   // nil: nothing was appended, nothing to wait for
}

// appendLocked appends recs as one batch, without waiting for its
// acknowledgement.
func (s *shard) appendLocked(recs []keyValue, now time.Time) (write, error) {
	if s.unloaded {
		// Completions run under s.mu after an unload; none may write.
		return write{}, fmt.Errorf("%w: the shard is unloaded", ErrLogUnavailable)
	}
	base, ack, err := s.log.Append(encodeBatch(recs, now.UnixMilli()))
	if err != nil {
		return write{}, err
	}
	return write{base: base, ack: ack}, nil
}

// storeGroupLocked appends g's metadata with the given assignment.
func (s *shard) storeGroupLocked(g *group, assignment map[string][]byte, now time.Time) (write, error) {
	return s.appendLocked([]keyValue{{groupKey(g.id), groupValue(g, assignment)}}, now)
}

// await waits for w's acknowledgement, at most commitTimeout and no longer
// than the shard stays loaded. No lock may be held.
func (s *shard) await(w write) error {
	if w.ack == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, commitTimeout)
	defer cancel()
	return w.ack.Wait(ctx)
}

// awaitThen waits for w's acknowledgement with no lock held, then runs
// then with s.mu held and the wait's error. then runs even if the shard
// was unloaded meanwhile (s.groups is then nil); it checks that what it
// changes is still what was written.
func (s *shard) awaitThen(w write, then func(err error)) {
	err := s.await(w)
	s.mu.Lock()
	defer s.mu.Unlock()
	then(err)
}

// afterWrite is a write a request waits for once it has released s.mu,
// and what it does then (see awaitThen).
type afterWrite struct {
	w    write
	then func(err error)
}

// finish completes a (nil: nothing to wait for). No lock may be held.
func (s *shard) finish(a *afterWrite) {
	if a != nil {
		s.awaitThen(a.w, a.then)
	}
}

// watchLocked logs msg with attrs if w is not acknowledged, from a
// goroutine that unload waits for. Nothing else depends on w.
func (s *shard) watchLocked(w write, msg string, attrs ...any) {
	if w.ack == nil {
		return
	}
	s.watches.Go(func() {
		if err := s.await(w); err != nil && s.ctx.Err() == nil {
			s.c.logger.Warn(msg, append(attrs, "partition", s.partition, "err", err)...)
		}
	})
}
