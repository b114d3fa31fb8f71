package partition

// Damage at rest and its repair. The broker's scrubber (Scrub) finds
// batches whose bytes rotted in a sealed segment; the log then refuses
// reads of them (storage.ErrDamaged: KAFKA_STORAGE_ERROR) and serves the
// rest. What happens next depends on whether another replica holds an
// intact copy, and the rule is never to throw away a byte that might be
// the last intact copy of an acknowledged record:
//
//   - A follower repairs itself from the leader, in two steps (the
//     replication fetcher drives them; see DamagedFrom and InISR). While it
//     is still in the committed ISR it only tells the leader it lacks the
//     damaged range, by fetching from its start without appending: the
//     leader sees the follower's log end go back, counts it as not caught
//     up (ReplicaFetch) and shrinks the ISR. Once the metadata shows it out
//     of the ISR, it truncates to the start of the damage and refetches
//     from the leader. It never truncates while it could still be elected
//     from the ISR, so a leader failure in between elects an intact
//     replica, not one that just dropped its tail.
//   - A leader with another in-sync replica resigns: ISRUpdate asks the
//     controller for the ISR without itself, which the controller commits
//     with a new leader elected from the rest of the ISR (they all hold
//     every committed record). This broker becomes a follower, out of the
//     ISR, and repairs as one.
//   - A leader alone in the ISR holds the only copy: nothing can repair
//     it. The damaged offsets stay refused (data before and after them
//     is served) and the scrubber says exactly which offsets are lost.

import (
	"context"
	"slices"

	"github.com/gregor-dev/gregor/internal/storage"
)

// ErrDamaged is a read refused because it would include a damaged batch.
var ErrDamaged = storage.ErrDamaged

// Scrub checks the partition's sealed segments (storage.Log.Scrub) at the
// throttle's pace and reports each damaged batch it finds with an ERROR
// line naming the partition, segment, byte position, offset range and what
// will happen to it. It returns the damage found in this pass.
func (p *Partition) Scrub(ctx context.Context, throttle *storage.Throttle) (storage.ScrubResult, error) {
	res, err := p.log.Scrub(ctx, throttle)
	for _, d := range res.Found {
		args := []any{"topic", p.Topic, "partition", p.Index, "segment", d.Segment, "position", d.Pos,
			"fromOffset", d.From, "toOffset", d.To - 1, "offsets", d.Offsets(), "records", d.Records, "reason", d.Reason}
		switch {
		case p.role.Load() == roleFollower:
			p.logger.Error("storage: damaged batch at rest; repairing it from the leader (out of the ISR first, then truncate and refetch)", args...)
		case p.role.Load() == roleLeader && p.otherInSync():
			p.logger.Error("storage: damaged batch at rest; handing leadership to an in-sync replica, then repairing from it", args...)
		default:
			p.logger.Error("storage: damaged batch at rest with no other in-sync copy: these offsets are LOST; fetches of them fail with KAFKA_STORAGE_ERROR, the rest is served", args...)
		}
	}
	return res, err
}

// Damaged lists the damaged ranges the scrubber found and no truncation
// removed yet.
func (p *Partition) Damaged() []storage.Damage { return p.log.Damaged() }

// DamagedFrom is the first damaged offset, if the log has damage.
func (p *Partition) DamagedFrom() (int64, bool) {
	ds := p.log.Damaged()
	if len(ds) == 0 {
		return 0, false
	}
	return ds[0].From, true
}

// InISR reports whether this broker is in the committed ISR as the last
// metadata applied says (SetISR, BecomeLeader).
func (p *Partition) InISR() bool {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return slices.Contains(p.rs.isr, p.nodeID)
}

// otherInSync reports whether the committed ISR holds a replica other
// than this broker.
func (p *Partition) otherInSync() bool {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return slices.ContainsFunc(p.rs.isr, func(id int32) bool { return id != p.nodeID })
}

// RepairTruncate truncates a follower's damaged log to the start of its
// first damage, so that it refetches it from the leader. It refuses
// (returns false) while this broker is still in the committed ISR, or is
// not a follower; see the comment at the top of this file.
func (p *Partition) RepairTruncate() (from int64, done bool, err error) {
	p.mu.Lock() // no role or ISR change between the check and the truncation
	defer p.mu.Unlock()
	from, ok := p.DamagedFrom()
	if !ok || p.role.Load() != roleFollower || p.InISR() {
		return from, false, nil
	}
	leo := p.log.EndOffset()
	if err := p.truncateToLocked(from); err != nil {
		return from, false, err
	}
	p.logger.Error("storage: truncated a damaged replica to refetch it from the leader", "topic", p.Topic, "partition", p.Index,
		"fromOffset", from, "dropped", leo-from, "leader", p.Leader())
	return from, true, nil
}
