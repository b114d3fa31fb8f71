package controller

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Errors of the quorum leader's decisions, mapped to Kafka error codes by
// the caller.
var (
	ErrInvalidReplicationFactor = errors.New("controller: invalid replication factor")
	ErrStaleBrokerEpoch         = errors.New("controller: stale broker epoch")
	ErrFencedLeaderEpoch        = errors.New("controller: fenced leader epoch")
	ErrInvalidUpdateVersion     = errors.New("controller: stale partition epoch")
	ErrNotLeader                = errors.New("controller: not the partition leader")
	ErrIneligibleReplica        = errors.New("controller: ineligible replica in the new ISR")
	ErrUnknownTopicOrPartition  = errors.New("controller: unknown topic or partition")
	ErrElectionNotNeeded        = errors.New("controller: election not needed")
	ErrPreferredNotAvailable    = errors.New("controller: preferred leader not available")
	ErrEligibleLeadersNotAvail  = errors.New("controller: no eligible leader")
)

// Assign places partitions new partitions of rf replicas each on the live
// brokers, the way Kafka does: replica lists rotate over the brokers so that
// leaders (the first replica) and followers spread evenly, starting after the
// partitions the cluster already has so that successive topics do not pile
// their leaders on the first broker. With racks (broker.rack), brokers are
// ordered alternating between racks, and a broker whose rack already holds a
// replica of the partition is passed over while some rack holds none (Kafka's
// assignReplicasToBrokersRackAware), so a partition spans min(rf, racks)
// racks. Without racks that rule never applies.
func Assign(img *Image, partitions int32, rf int16, start int) ([][]int32, error) {
	live := img.LiveBrokers()
	if rf < 1 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0", ErrInvalidReplicationFactor)
	}
	if int(rf) > len(live) {
		return nil, fmt.Errorf("%w: replication factor: %d larger than available brokers: %d", ErrInvalidReplicationFactor, rf, len(live))
	}
	rackOf := make(map[int32]string, len(live))
	racks := map[string]bool{}
	for _, b := range live {
		rackOf[b.ID], racks[b.Rack] = b.Rack, true
	}
	order := rackAlternating(live)
	n := len(order)
	out := make([][]int32, partitions)
	for p := range out {
		first := (start + p) % n
		// The shift between the first replica and the others changes every
		// n partitions, as Kafka's assignment does (by whole rack rounds).
		shift := (start + p) / n % max(n-1, 1) * len(racks)
		rs := make([]int32, 0, rf)
		rs = append(rs, order[first])
		used := map[string]bool{rackOf[order[first]]: true}
		// k walks the other n-1 brokers from the shift on, round and round:
		// a free broker (and one on a free rack, while there is one) comes
		// within n-1 steps.
		for k := 0; len(rs) < int(rf); k++ {
			b := order[(first+1+(shift+k)%(n-1))%n]
			if slices.Contains(rs, b) || used[rackOf[b]] && len(used) < len(racks) {
				continue
			}
			rs = append(rs, b)
			used[rackOf[b]] = true
		}
		out[p] = rs
	}
	return out, nil
}

// rackAlternating orders brokers so that racks alternate (a, b, c, a, b, c
// ...); without racks it is the id order.
func rackAlternating(live []*Broker) []int32 {
	byRack := map[string][]int32{}
	var racks []string
	for _, b := range live {
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b.ID)
	}
	slices.Sort(racks)
	out := make([]int32, 0, len(live))
	for i := 0; len(out) < len(live); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

// NewPartitions builds the initial states of assigned partitions: the whole
// replica list is the ISR and the first replica leads, at epoch 0.
func NewPartitions(assignment [][]int32) []Partition {
	out := make([]Partition, len(assignment))
	for i, rs := range assignment {
		out[i] = Partition{Replicas: slices.Clone(rs), ISR: slices.Clone(rs), Leader: rs[0]}
	}
	return out
}

// PlacedPartitions is the initial state of partitions whose replicas an
// operator placed: the ISR is the live replicas, the leader the first of
// them (none when no replica is live), as Kafka's controller does.
func PlacedPartitions(img *Image, assignment [][]int32) []Partition {
	out := make([]Partition, len(assignment))
	for i, rs := range assignment {
		p := Partition{Replicas: slices.Clone(rs), Leader: -1, ISR: []int32{}}
		for _, r := range rs {
			if img.Live(r) {
				p.ISR = append(p.ISR, r)
			}
		}
		if len(p.ISR) > 0 {
			p.Leader = p.ISR[0]
		} else {
			p.ISR = slices.Clone(rs) // nobody live: the last known ISR is all of them
		}
		out[i] = p
	}
	return out
}

// PartitionCount is the number of partitions in the image, used to rotate
// the start of new assignments.
func (img *Image) PartitionCount() int {
	n := 0
	for _, t := range img.Topics {
		n += len(t.Partitions)
	}
	return n
}

// electLeader picks a partition's leader: the first replica, in replica
// order (so the preferred one wins when it can), that is in the ISR and
// live. With unclean set and no such replica, the first live replica.
func electLeader(img *Image, p *Partition, unclean bool, exclude int32) (leader int32, uncleanUsed bool) {
	for _, r := range p.Replicas {
		if r != exclude && p.InISR(r) && img.Live(r) {
			return r, false
		}
	}
	if unclean {
		for _, r := range p.Replicas {
			if r != exclude && img.Live(r) {
				return r, true
			}
		}
	}
	return -1, false
}

// change records a new state for a partition, bumping its epochs.
func change(topic string, i int, old Partition, next Partition) Record {
	next.PartitionEpoch = old.PartitionEpoch + 1
	if next.Leader != old.Leader {
		next.LeaderEpoch = old.LeaderEpoch + 1
	}
	return Record{Type: RecPartitionChange, TopicName: topic, Partition: int32(i), State: &next}
}

// removeFromISR drops id from an ISR unless it is the last member: Kafka
// keeps the last in-sync replica there so that it can lead again.
func removeFromISR(isr []int32, id int32) []int32 {
	if len(isr) <= 1 {
		return slices.Clone(isr)
	}
	return slices.DeleteFunc(slices.Clone(isr), func(r int32) bool { return r == id })
}

// FenceBroker is what the leader writes when broker id loses its lease (or
// re-registers after a crash, or shuts down with shutdown set): the broker
// is fenced (or marked shutting down), leaves every ISR where it is not the
// last member, and every partition it led gets a new leader from the rest of
// the ISR at a new leader epoch (or no leader, until an ISR member returns).
// unclean maps a topic to unclean.leader.election.enable.
func FenceBroker(img *Image, id int32, shutdown bool, unclean func(topic string) bool) []Record {
	typ := RecFenceBroker
	if shutdown {
		typ = RecShutdownBroker
	}
	recs := []Record{{Type: typ, BrokerID: id}}
	after, _ := img.Apply(img.Offset, recs[:1])
	for _, name := range img.TopicNames() {
		t := img.Topics[name]
		for i, p := range t.Partitions {
			if !p.IsReplica(id) {
				continue
			}
			next := p.clone()
			next.ISR = removeFromISR(p.ISR, id)
			if p.Leader == id {
				next.Leader, _ = electLeader(after, &next, unclean(name), id)
				if next.Leader >= 0 && !next.InISR(next.Leader) {
					next.ISR = []int32{next.Leader}
				}
			}
			if next.Leader == p.Leader && slices.Equal(next.ISR, p.ISR) {
				continue
			}
			recs = append(recs, change(name, i, p, next))
		}
	}
	return recs
}

// UnfenceBroker is what the leader writes when a fenced broker heartbeats
// again: it is unfenced and leads the leaderless partitions whose ISR it is
// in (or, with unclean election, any leaderless partition it holds).
func UnfenceBroker(img *Image, id int32, unclean func(topic string) bool) []Record {
	recs := []Record{{Type: RecUnfenceBroker, BrokerID: id}}
	after, _ := img.Apply(img.Offset, recs)
	recs = append(recs, electLeaderless(after, unclean)...)
	return recs
}

// electLeaderless elects a leader for every partition without one, where
// possible.
func electLeaderless(img *Image, unclean func(topic string) bool) []Record {
	var recs []Record
	for _, name := range img.TopicNames() {
		for i, p := range img.Topics[name].Partitions {
			if p.Leader >= 0 && img.Live(p.Leader) {
				continue
			}
			next := p.clone()
			next.Leader, _ = electLeader(img, &next, unclean(name), -1)
			if next.Leader < 0 || next.Leader == p.Leader {
				continue
			}
			if !next.InISR(next.Leader) {
				next.ISR = []int32{next.Leader}
			}
			recs = append(recs, change(name, i, p, next))
		}
	}
	return recs
}

// PreferredElections moves leadership back to each partition's preferred
// (first) replica where it is live, in the ISR and not the leader. Only the
// listed partitions when only is not nil.
func PreferredElections(img *Image, only func(topic string, p int32) bool) []Record {
	var recs []Record
	for _, name := range img.TopicNames() {
		for i, p := range img.Topics[name].Partitions {
			if only != nil && !only(name, int32(i)) {
				continue
			}
			if pref := preferredReplica(&p); pref >= 0 && p.Leader != pref && p.InISR(pref) && img.Live(pref) {
				next := p.clone()
				next.Leader = pref
				recs = append(recs, change(name, i, p, next))
			}
		}
	}
	return recs
}

// preferredReplica is a partition's first replica, or -1 when it has none
// (which only a malformed record makes, but the image holds what the log
// says).
func preferredReplica(p *Partition) int32 {
	if len(p.Replicas) == 0 {
		return -1
	}
	return p.Replicas[0]
}

// ElectPartition answers ElectLeaders for one partition: preferred (the
// first replica, which must be live and in the ISR) or unclean (only when
// the partition has no live leader).
func ElectPartition(img *Image, topic string, index int32, preferred bool) (Record, error) {
	t, ok := img.Topics[topic]
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return Record{}, ErrUnknownTopicOrPartition
	}
	p := t.Partitions[index]
	next := p.clone()
	if preferred {
		pref := preferredReplica(&p)
		switch {
		case pref < 0:
			return Record{}, fmt.Errorf("%w: %s-%d has no replicas", ErrPreferredNotAvailable, topic, index)
		case p.Leader == pref:
			return Record{}, ErrElectionNotNeeded
		case !p.InISR(pref) || !img.Live(pref):
			return Record{}, fmt.Errorf("%w: preferred replica %d of %s-%d is not live and in sync", ErrPreferredNotAvailable, pref, topic, index)
		}
		next.Leader = pref
		return change(topic, int(index), p, next), nil
	}
	if p.Leader >= 0 && img.Live(p.Leader) {
		return Record{}, ErrElectionNotNeeded
	}
	next.Leader, _ = electLeader(img, &next, true, -1)
	if next.Leader < 0 {
		return Record{}, fmt.Errorf("%w: no live replica of %s-%d", ErrEligibleLeadersNotAvail, topic, index)
	}
	if !next.InISR(next.Leader) {
		next.ISR = []int32{next.Leader}
	}
	return change(topic, int(index), p, next), nil
}

// AlterISR checks a leader's AlterPartition request for one partition and
// returns the change to write. A request that matches the current state
// again (a retry whose answer was lost) returns no record and no error.
func AlterISR(img *Image, brokerID int32, brokerEpoch int64, topic string, index int32, leaderEpoch, partitionEpoch int32, isr []int32) (*Record, Partition, error) {
	b, ok := img.Brokers[brokerID]
	if !ok || brokerEpoch >= 0 && b.Epoch != brokerEpoch {
		return nil, Partition{}, ErrStaleBrokerEpoch
	}
	t, ok := img.Topics[topic]
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return nil, Partition{}, ErrUnknownTopicOrPartition
	}
	p := t.Partitions[index]
	switch {
	case p.Leader != brokerID:
		return nil, p, ErrNotLeader
	case leaderEpoch < p.LeaderEpoch:
		return nil, p, ErrFencedLeaderEpoch
	case leaderEpoch > p.LeaderEpoch:
		return nil, p, ErrFencedLeaderEpoch
	}
	// The ISR is a set: a repeated id is neither a change nor a reason to
	// refuse a retry.
	sorted := slices.Clone(isr)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	cur := slices.Clone(p.ISR)
	slices.Sort(cur)
	if slices.Equal(sorted, cur) {
		return nil, p, nil
	}
	if partitionEpoch != p.PartitionEpoch {
		return nil, p, ErrInvalidUpdateVersion
	}
	if !slices.Contains(isr, brokerID) {
		return resign(img, topic, index, p, brokerID, isr)
	}
	for _, r := range isr {
		if !p.IsReplica(r) {
			return nil, p, fmt.Errorf("%w: %d holds no replica", ErrIneligibleReplica, r)
		}
		if !p.InISR(r) && !img.Live(r) {
			return nil, p, fmt.Errorf("%w: %d is fenced or shutting down", ErrIneligibleReplica, r)
		}
	}
	next := p.clone()
	// Keep replica order in the ISR, so that answers are stable.
	next.ISR = slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return !slices.Contains(isr, r) })
	rec := change(topic, int(index), p, next)
	return &rec, *rec.State, nil
}

// resign is AlterISR for an ISR without its leader: the leader gives up
// leadership (it found damaged batches at rest, see
// internal/partition/scrub.go) to a replica of the rest of the ISR, which
// must be non-empty, a subset of the current ISR (they hold every
// committed record) and live. The new leader is elected from it at a new
// leader epoch; the old one leaves the ISR and, as a follower, repairs its
// log from the new leader.
func resign(img *Image, topic string, index int32, p Partition, brokerID int32, isr []int32) (*Record, Partition, error) {
	for _, r := range isr {
		if !p.InISR(r) {
			return nil, p, fmt.Errorf("%w: %d is not in the ISR the leader %d resigns to", ErrIneligibleReplica, r, brokerID)
		}
	}
	next := p.clone()
	next.ISR = slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return !slices.Contains(isr, r) })
	next.Leader, _ = electLeader(img, &next, false, brokerID)
	if len(next.ISR) == 0 || next.Leader < 0 {
		return nil, p, fmt.Errorf("%w: the leader %d must stay in the ISR: no other live in-sync replica", ErrIneligibleReplica, brokerID)
	}
	rec := change(topic, int(index), p, next)
	return &rec, *rec.State, nil
}

// LeaderCount counts the partitions each broker leads, for logs and tests.
func LeaderCount(img *Image) map[int32]int {
	m := map[int32]int{}
	for _, t := range img.Topics {
		for _, p := range t.Partitions {
			if p.Leader >= 0 {
				m[p.Leader]++
			}
		}
	}
	return m
}

// LedBy lists the partitions broker id leads, as topic/index pairs sorted.
func LedBy(img *Image, id int32) []TopicPartition {
	var out []TopicPartition
	for name, t := range img.Topics {
		for i, p := range t.Partitions {
			if p.Leader == id {
				out = append(out, TopicPartition{name, int32(i)})
			}
		}
	}
	slices.SortFunc(out, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}
