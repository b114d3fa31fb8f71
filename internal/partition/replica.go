package partition

// Replica state, Kafka's semantics (Partition.scala, Replica.scala):
//
//   - The leader tracks each follower's log end offset (LEO), learnt from
//     the offset it fetches at, and the last time it was caught up.
//   - The high watermark (HW) is the minimum LEO over the maximal ISR: the
//     committed ISR plus replicas the leader asked the controller to add. A
//     follower not heard from since this broker became leader holds the HW
//     where it is. The leader's HW never moves back.
//   - acks=all producers wait (Ack.Wait, produce.go) for the HW to pass
//     their batch; losing leadership fails them.
//   - A follower copies the leader's batches with their offsets and epochs
//     (AppendReplica) and takes HW = min(leader's HW, own LEO).
//
// The role, epoch and whether the HW is simply the LEO change with both
// Partition.mu and rmu held, so that no append runs while the HW's meaning
// changes (the HW a reader sees never moves back) and readers need neither.

import (
	"fmt"
	"slices"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/storage"
)

const (
	roleNone int32 = iota // after Open, until the metadata gives a role
	roleLeader
	roleFollower
)

// replicaState is guarded by Partition.rmu.
type replicaState struct {
	leader     int32   // -1 unknown
	replicas   []int32 // assigned replicas, this broker included
	isr        []int32 // committed ISR
	pendingAdd []int32 // asked of the controller by ISRUpdate, not yet committed
	followers  []follower
	epochStart int64           // LEO when this broker became leader in the current epoch
	waiters    []*commitWaiter // acks=-1 batches waiting for the HW, in offset order
	closed     bool
}

// follower is what the leader knows of one other replica.
type follower struct {
	id                 int32
	leo                int64 // -1 until it fetches in this leadership
	lastCaughtUp       time.Time
	lastFetch          time.Time
	lastFetchLeaderLEO int64 // the leader's LEO at lastFetch
	reachedHW          bool  // the last fetch was at or past the HW of then
}

func (p *Partition) initReplicaState() {
	p.role.Store(roleNone)
	p.rs = replicaState{leader: -1}
}

// closeReplicaState fails acks=all waiters; the caller holds mu.
func (p *Partition) closeReplicaState() {
	p.rmu.Lock()
	p.rs.closed = true
	p.changeLeadershipLocked(ErrClosed)
	p.rmu.Unlock()
}

// changeLeadershipLocked ends the current leadership (mu and rmu held):
// acknowledgements of batches appended under it fail with err.
func (p *Partition) changeLeadershipLocked(err error) {
	p.leadership.Add(1)
	p.failWaitersLocked(fmt.Errorf("%w: leadership of %s changed before the batch was committed", err, p.name()))
}

// BecomeLeader makes this broker the partition's leader in epoch (≥ the
// current one) with the given replicas and committed ISR. The epoch starts
// at the LEO in the leader-epoch cache. Followers' LEOs are unknown until
// they fetch; followers in the ISR count as caught up now, so they have
// replica.lag.time.max.ms to show up. The HW starts at the checkpointed (or
// follower's) HW and advances as the ISR catches up; it is the LEO if the
// ISR is this broker alone.
func (p *Partition) BecomeLeader(epoch int32, replicas, isr []int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if cur := p.leaderEpoch.Load(); epoch < cur {
		return fmt.Errorf("%w: become leader in epoch %d, current %d", ErrFencedLeaderEpoch, epoch, cur)
	}
	leo := p.log.EndOffset()
	if err := p.log.AssignEpoch(epoch, leo); err != nil {
		return err
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	same := p.role.Load() == roleLeader && epoch == p.leaderEpoch.Load()
	if !same {
		p.changeLeadershipLocked(ErrNotLeader)
	}
	now := p.now()
	old := p.rs.followers
	p.rs.followers = p.rs.followers[:0:0]
	for _, id := range replicas {
		if id == p.nodeID || slices.ContainsFunc(p.rs.followers, func(f follower) bool { return f.id == id }) {
			continue
		}
		if i := slices.IndexFunc(old, func(f follower) bool { return f.id == id }); same && i >= 0 {
			p.rs.followers = append(p.rs.followers, old[i])
			continue
		}
		f := follower{id: id, leo: -1, lastFetch: now, lastFetchLeaderLEO: leo}
		if slices.Contains(isr, id) {
			f.lastCaughtUp = now
		}
		p.rs.followers = append(p.rs.followers, f)
	}
	if !same {
		p.rs.epochStart = leo
	}
	p.rs.leader = p.nodeID
	p.rs.replicas = slices.Clone(replicas)
	p.rs.isr = slices.Clone(isr)
	p.rs.pendingAdd = nil
	p.leaveHWIsLEOLocked()
	p.leaderEpoch.Store(epoch)
	p.role.Store(roleLeader)
	p.setHWIsLEOLocked()
	p.maybeAdvanceHWLocked()
	p.wake()
	return nil
}

// BecomeFollower makes this broker a follower of leader in epoch (≥ the
// current one). Appends and consumer fetches then answer ErrNotLeader, and
// acks=all waiters fail with it.
func (p *Partition) BecomeFollower(epoch int32, leader int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if cur := p.leaderEpoch.Load(); epoch < cur {
		return fmt.Errorf("%w: become follower in epoch %d, current %d", ErrFencedLeaderEpoch, epoch, cur)
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.role.Load() == roleFollower && epoch == p.leaderEpoch.Load() && leader == p.rs.leader {
		return nil
	}
	p.leaveHWIsLEOLocked()
	p.leaderEpoch.Store(epoch)
	p.role.Store(roleFollower)
	p.rs.leader = leader
	p.rs.followers = nil
	p.rs.pendingAdd = nil
	p.changeLeadershipLocked(ErrNotLeader)
	p.wake()
	return nil
}

// SetISR installs the ISR the controller committed (same leader epoch) and
// recomputes the HW. Pending additions are settled by it.
func (p *Partition) SetISR(isr []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rmu.Lock()
	defer p.rmu.Unlock()
	// A replica that left the ISR must fetch again before it may return:
	// what the leader knew of it may be from before it died.
	for i := range p.rs.followers {
		if f := &p.rs.followers[i]; slices.Contains(p.rs.isr, f.id) && !slices.Contains(isr, f.id) {
			f.leo, f.reachedHW = -1, false
		}
	}
	p.rs.isr = slices.Clone(isr)
	p.rs.pendingAdd = nil
	if p.role.Load() != roleLeader {
		return
	}
	p.setHWIsLEOLocked()
	p.maybeAdvanceHWLocked()
}

// leaveHWIsLEOLocked makes the HW the tracked value before a role change
// (mu and rmu held): a leader whose ISR was itself had committed its whole
// log; a partition without a role yet starts from its checkpointed HW, as
// Kafka does when a broker starts.
func (p *Partition) leaveHWIsLEOLocked() {
	leo := p.log.EndOffset()
	if p.hwIsLEO.Load() && p.role.Load() == roleLeader {
		p.hw.Store(leo)
	}
	p.hw.Store(min(max(p.hw.Load(), p.log.StartOffset()), leo))
	p.hwIsLEO.Store(false)
}

// setHWIsLEOLocked switches the HW to the LEO when the maximal ISR is this
// broker alone, and back to the tracked value (starting at the LEO) when it
// grows. mu and rmu are held, so no append moves the LEO meanwhile.
func (p *Partition) setHWIsLEOLocked() {
	alone := true
	for _, ids := range [2][]int32{p.rs.isr, p.rs.pendingAdd} {
		for _, id := range ids {
			if id != p.nodeID {
				alone = false
			}
		}
	}
	if was := p.hwIsLEO.Load(); was && !alone {
		p.hw.Store(p.log.EndOffset())
	} else if !was && alone {
		p.hw.Store(p.log.EndOffset())
	}
	p.hwIsLEO.Store(alone)
	if alone {
		p.completeWaitersLocked() // the whole log is committed
	}
}

// maybeAdvanceHWLocked sets the leader's HW to the minimum LEO over the
// maximal ISR if that is higher, and wakes whoever waits on it.
func (p *Partition) maybeAdvanceHWLocked() {
	if p.hwIsLEO.Load() {
		return // appends are committed as they happen in this mode
	}
	low := p.log.EndOffset()
	for _, ids := range [2][]int32{p.rs.isr, p.rs.pendingAdd} {
		for _, id := range ids {
			if id == p.nodeID {
				continue
			}
			i := p.followerLocked(id)
			if i < 0 || p.rs.followers[i].leo < 0 {
				return // unknown replica or not heard from: no progress
			}
			low = min(low, p.rs.followers[i].leo)
		}
	}
	if low > p.hw.Load() {
		p.hw.Store(low)
		p.completeWaitersLocked()
		p.wake() // consumers' long polls see new data
	}
}

func (p *Partition) followerLocked(id int32) int {
	return slices.IndexFunc(p.rs.followers, func(f follower) bool { return f.id == id })
}

// IsLeader reports whether this broker leads the partition.
func (p *Partition) IsLeader() bool { return p.role.Load() == roleLeader }

// Leader is the leader's broker id, -1 when unknown.
func (p *Partition) Leader() int32 {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.rs.leader
}

// ISR is a copy of the committed in-sync replica set.
func (p *Partition) ISR() []int32 {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return slices.Clone(p.rs.isr)
}

// UnderReplicated reports whether this broker leads the partition with an
// ISR smaller than its assigned replicas.
func (p *Partition) UnderReplicated() bool {
	if p.role.Load() != roleLeader {
		return false
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return len(p.rs.isr) < len(p.rs.replicas)
}

// InSyncCount is len(ISR()) without the copy (the acks=all check).
func (p *Partition) InSyncCount() int {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return len(p.rs.isr)
}

// checkEpoch fences a request's view of the leader epoch (-1: none).
func (p *Partition) checkEpoch(current int32) error {
	ours := p.leaderEpoch.Load()
	switch {
	case current < 0 || current == ours:
		return nil
	case current < ours:
		return fmt.Errorf("%w: %d < %d", ErrFencedLeaderEpoch, current, ours)
	default:
		return fmt.Errorf("%w: %d > %d", ErrUnknownLeaderEpoch, current, ours)
	}
}

// ReplicaFetch serves a follower's fetch at fetchOffset: it records the
// follower's LEO (= fetchOffset) and caught-up time, advances the HW, and
// reads up to the LEO (not the HW). FetchResult.HighWatermark is the
// leader's HW. The read returns at least one whole batch when there is one.
func (p *Partition) ReplicaFetch(replica int32, fetchOffset int64, currentLeaderEpoch int32, maxBytes int32) (FetchResult, error) {
	res := FetchResult{HighWatermark: -1, LogStartOffset: -1}
	p.rmu.Lock()
	if p.role.Load() != roleLeader || p.rs.closed {
		p.rmu.Unlock()
		return res, ErrNotLeader
	}
	if err := p.checkEpoch(currentLeaderEpoch); err != nil {
		p.rmu.Unlock()
		return res, err
	}
	i := p.followerLocked(replica)
	if i < 0 {
		p.rmu.Unlock()
		return res, fmt.Errorf("%w: replica %d is not assigned to %s", ErrNotLeader, replica, p.name())
	}
	leo, start := p.log.EndOffset(), p.log.StartOffset()
	if fetchOffset < start || fetchOffset > leo {
		p.rmu.Unlock()
		res.HighWatermark, res.LogStartOffset = p.HighWatermark(), start
		return res, fmt.Errorf("%w: replica %d fetches %d, log is [%d, %d]", storage.ErrOffsetOutOfRange, replica, fetchOffset, start, leo)
	}
	f := &p.rs.followers[i]
	now := p.now()
	// Kafka's Replica.updateFetchState: caught up now if at the LEO; else
	// caught up at the previous fetch if it reached the LEO of then.
	// A follower whose log end went back since its last fetch in this
	// leadership lost records it had (a damaged replica repairing itself,
	// see scrub.go, or a crash that lost its unflushed tail): it is not
	// caught up, whatever it was, and leaves the ISR at the next check.
	switch {
	case f.leo >= 0 && fetchOffset < f.leo:
		f.lastCaughtUp = time.Time{}
	case fetchOffset >= leo:
		f.lastCaughtUp = now
	case fetchOffset >= f.lastFetchLeaderLEO && f.lastFetch.After(f.lastCaughtUp):
		f.lastCaughtUp = f.lastFetch
	}
	f.leo, f.lastFetch, f.lastFetchLeaderLEO = fetchOffset, now, leo
	// Judged at the fetch, as Kafka's maybeExpandIsr: under steady
	// appends a follower is seldom at the HW of a later moment.
	f.reachedHW = fetchOffset >= p.HighWatermark()
	p.maybeAdvanceHWLocked()
	res.HighWatermark = p.HighWatermark()
	p.rmu.Unlock()
	res.LogStartOffset = p.log.StartOffset()
	rr, err := p.log.Read(fetchOffset, maxBytes, leo, true)
	res.Records = Records{rr.Slice}
	return res, err
}

// ISRUpdate is the ISR the leader wants at now: followers of the ISR whose
// last caught-up time is older than lagMax leave it (unless at the LEO, as in
// Kafka: an idle partition keeps an idle follower), replicas whose last
// fetch reached the HW (of the moment of that fetch) and the start of the
// current leader epoch join it. changed
// reports whether it differs from the committed ISR; the caller then sends
// it to the controller and calls SetISR with what was committed. Until
// then, added replicas already count for the HW (Kafka's maximal ISR);
// removals take effect at SetISR. Not a leader: the committed ISR, false.
func (p *Partition) ISRUpdate(now time.Time, lagMax time.Duration) (isr []int32, changed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.role.Load() != roleLeader {
		return slices.Clone(p.rs.isr), false
	}
	leo, hw := p.log.EndOffset(), p.HighWatermark()
	want := make([]int32, 0, len(p.rs.replicas))
	for _, id := range p.rs.isr {
		if id == p.nodeID {
			want = append(want, id)
			continue
		}
		i := p.followerLocked(id)
		if i < 0 {
			continue // no longer assigned
		}
		f := &p.rs.followers[i]
		if f.leo >= leo || now.Sub(f.lastCaughtUp) <= lagMax {
			want = append(want, id)
		}
	}
	// A damaged leader resigns to an in-sync replica (see scrub.go): the
	// controller reads an ISR without the leader as a resignation and
	// elects the new leader from it.
	if len(p.log.Damaged()) > 0 && len(want) > 1 {
		want = slices.DeleteFunc(want, func(id int32) bool { return id == p.nodeID })
		return want, true
	}
	for _, f := range p.rs.followers {
		// A replica joins only on a recent fetch (within lagMax): a
		// stale position of a replica since gone must not hold the HW.
		if !slices.Contains(p.rs.isr, f.id) && f.leo >= 0 && (f.leo >= hw || f.reachedHW) && f.leo >= p.rs.epochStart && now.Sub(f.lastFetch) <= lagMax {
			want = append(want, f.id)
		}
	}
	if sameSet(want, p.rs.isr) {
		p.rs.pendingAdd = nil
		p.setHWIsLEOLocked()
		return want, false
	}
	p.rs.pendingAdd = p.rs.pendingAdd[:0]
	for _, id := range want {
		if !slices.Contains(p.rs.isr, id) {
			p.rs.pendingAdd = append(p.rs.pendingAdd, id)
		}
	}
	p.setHWIsLEOLocked()
	p.maybeAdvanceHWLocked()
	return want, true
}

func sameSet(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// AppendReplica appends batches as the leader assigned them (a follower's
// fetch response): offsets kept, gaps allowed, nothing below the LEO, CRC and
// framing checked before anything is written. It updates the idempotent
// producer state from their headers (so a retry reaching this broker once it
// leads is still recognised) and the leader-epoch cache from their epochs,
// then sets HW = min(leaderHW, LEO) and raises the log start offset to
// leaderLogStart (at most the LEO).
func (p *Partition) AppendReplica(batches []byte, leaderHW, leaderLogStart int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.role.Load() != roleFollower {
		return ErrNotFollower
	}
	if len(batches) > 0 {
		if err := validateReplicaBatches(batches); err != nil {
			return err
		}
		if err := p.log.AppendAssigned(batches); err != nil {
			return err
		}
		for rest := batches; len(rest) > 0; {
			h, _, r, _ := record.Next(rest) // validated above
			if h.Idempotent() && !h.Control() {
				p.producers.update(&h)
			}
			rest = r
		}
	}
	leo := p.log.EndOffset()
	if start := min(leaderLogStart, leo); start > p.log.StartOffset() {
		if err := p.log.SetStartOffset(start); err != nil {
			return err
		}
	}
	p.hw.Store(max(min(leaderHW, leo), p.log.StartOffset()))
	p.wake()
	return nil
}

// validateReplicaBatches checks each batch as Validate does a producer's,
// minus the rules only producers obey (control batches are the leader's)
// and the CRC, which the log's AppendAssigned checks before it writes
// anything (checking it here too would read every byte twice).
func validateReplicaBatches(batches []byte) error {
	for rest := batches; len(rest) > 0; {
		h, _, r, err := record.Next(rest)
		if err != nil {
			return fmt.Errorf("%w: %w", record.ErrCorrupt, err)
		}
		if h.NumRecords < 0 || h.LastOffsetDelta < 0 {
			return fmt.Errorf("%w: batch at %d: %d records, last offset delta %d", record.ErrInvalid, h.BaseOffset, h.NumRecords, h.LastOffsetDelta)
		}
		rest = r
	}
	return nil
}

// TruncateTo drops every offset ≥ offset (a batch straddling it goes whole):
// log, indexes and leader-epoch cache. Producer state is rebuilt and
// snapshotted at once, so no snapshot describes the discarded history.
func (p *Partition) TruncateTo(offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.truncateToLocked(offset)
}

func (p *Partition) truncateToLocked(offset int64) error {
	if p.closed {
		return ErrClosed
	}
	if offset >= p.log.EndOffset() {
		return nil
	}
	if err := p.log.TruncateTo(offset); err != nil {
		return err
	}
	return p.afterTruncateLocked()
}

// TruncateFullyAndStartAt empties the log and starts it at offset (a
// follower behind the leader's log start).
func (p *Partition) TruncateFullyAndStartAt(offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return err
	}
	return p.afterTruncateLocked()
}

func (p *Partition) afterTruncateLocked() error {
	leo := p.log.EndOffset()
	p.rmu.Lock()
	p.hw.Store(max(min(p.hw.Load(), leo), p.log.StartOffset()))
	p.rmu.Unlock()
	// loadProducers reads the snapshot if it does not lie past the new
	// LEO, else rescans the log from its start.
	err := p.loadProducers()
	if err == nil {
		if err = writeSnapshot(p.fs, p.dir, leo, p.producers); err == nil {
			p.snapshotOffset = leo
		}
	}
	p.wake()
	return err
}

// LogEndOffset is the offset the next batch gets.
func (p *Partition) LogEndOffset() int64 { return p.log.EndOffset() }

// LatestEpoch is the latest epoch in the leader-epoch cache.
func (p *Partition) LatestEpoch() (int32, bool) { return p.log.LatestEpoch() }
