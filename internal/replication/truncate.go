package replication

// Truncation before fetching (KIP-101, KIP-279), as Kafka's
// AbstractFetcherThread does it. The follower sends its latest local epoch
// E; the leader answers (e, o): the largest epoch e ≤ E it knows and the
// offset o where e ends in its log. Then, with (e', o') the local answer
// for e:
//
//   - e' == e: the logs agree below min(o, o'); truncate there. Done.
//   - e' != e (we never had epoch e; e' < e): truncate to o', where our e'
//     ends, and ask again with our new latest epoch. Each round lowers E,
//     so this ends. (Truncating straight to min(o, o') could keep records
//     of epoch e' at offsets where the leader has epoch e.)
//   - we know no epoch ≤ e (o' = -1): truncate to o. Done.
//   - the leader answers epoch -1 with an offset (pre-KIP-279): truncate
//     to o. Done.
//   - the leader answers UNDEFINED (o = -1): it has no epochs at or below
//     E, in practice an empty leader log. Kafka then truncates to its own
//     high watermark, which we do not know; we ask the leader's high
//     watermark (ListOffsets latest) and truncate to that: everything
//     below it is committed, so it is on the leader.
//   - the local log has no epochs: empty, nothing to do; if it holds
//     records anyway (written without epochs) nothing of it can be
//     checked, and it is truncated to its start (Kafka would use its high
//     watermark, which a Replica does not expose).
//
// Never truncating above the local log end is implied by every min with
// LogEndOffset.

import (
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// truncationOffset decides where to truncate after the leader answered
// (leaderEpoch, leaderEnd ≥ 0) to our latest epoch; done is false when
// another OffsetForLeaderEpoch round is needed.
func truncationOffset(r Replica, leo int64, leaderEpoch int32, leaderEnd int64) (offset int64, done bool) {
	if leaderEpoch < 0 {
		return min(leaderEnd, leo), true
	}
	localEpoch, localEnd := r.EndOffsetForEpoch(leaderEpoch)
	switch {
	case localEnd < 0:
		return min(leaderEnd, leo), true
	case localEpoch != leaderEpoch:
		return min(localEnd, leo), false
	default:
		return min(localEnd, leaderEnd, leo), true
	}
}

// truncateLocal truncates r to offset unless its log ends there already;
// below the log start it restarts the log there, as Kafka's truncateTo does.
func truncateLocal(r Replica, offset int64) (truncated bool, err error) {
	if offset >= r.LogEndOffset() {
		return false, nil
	}
	if offset < r.LogStartOffset() {
		return true, r.TruncateFullyAndStartAt(offset)
	}
	return true, r.TruncateTo(offset)
}

type askedEpoch struct {
	f         *follower
	requested int32
}

// truncate runs one OffsetForLeaderEpoch round for parts.
func (ft *fetcher) truncate(parts []*follower) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.SetVersion(offsetForLeaderEpochVersion)
	req.ReplicaID = ft.m.o.NodeID
	asked := make(map[tp]askedEpoch, len(parts))
	topics := map[string]int{}
	for _, f := range parts {
		var latest int32
		var hasEpoch, truncated bool
		removed, err := f.call(func(r Replica) error {
			latest, hasEpoch = r.LatestEpoch()
			if hasEpoch {
				return nil
			}
			var err error
			truncated, err = truncateLocal(r, r.LogStartOffset())
			return err
		})
		switch {
		case removed:
			continue
		case err != nil:
			ft.localFailed(f, err)
			continue
		case !hasEpoch:
			if truncated {
				ft.log.Warn("replication: log without leader epochs truncated to its start", "partition", f.tp)
			}
			f.setState(stateFetch)
			continue
		}
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		p.Partition = f.index
		p.CurrentLeaderEpoch = f.epoch
		p.LeaderEpoch = latest
		t := topicEntry(&req.Topics, topics, f.topic, func(name string) kmsg.OffsetForLeaderEpochRequestTopic {
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = name
			return t
		})
		t.Partitions = append(t.Partitions, p)
		asked[f.tp] = askedEpoch{f, latest}
	}
	if len(asked) == 0 {
		return nil
	}
	kresp, err := ft.request(req, nil)
	if err != nil {
		return err
	}
	ft.applyEpochResponse(kresp.(*kmsg.OffsetForLeaderEpochResponse), asked)
	return nil
}

// applyEpochResponse applies an OffsetForLeaderEpoch answer to the
// partitions asked for (it takes those answered out of asked).
func (ft *fetcher) applyEpochResponse(resp *kmsg.OffsetForLeaderEpochResponse, asked map[tp]askedEpoch) {
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			k := tp{t.Topic, p.Partition}
			a, ok := asked[k]
			if !ok {
				continue
			}
			delete(asked, k)
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				ft.partitionError(a.f, "offset for leader epoch", err)
				continue
			}
			if p.EndOffset < 0 {
				a.f.setState(stateListLatest)
				continue
			}
			ft.applyEpochAnswer(a, p.LeaderEpoch, p.EndOffset)
		}
	}
	for _, a := range asked { // not answered: do not ask again at once
		ft.partitionError(a.f, "offset for leader epoch", errors.New("replication: partition missing from the answer"))
	}
}

func (ft *fetcher) applyEpochAnswer(a askedEpoch, leaderEpoch int32, leaderEnd int64) {
	f := a.f
	var target, leo int64
	var done, truncated bool
	removed, err := f.call(func(r Replica) error {
		leo = r.LogEndOffset()
		target, done = truncationOffset(r, leo, leaderEpoch, leaderEnd)
		var err error
		if truncated, err = truncateLocal(r, target); err != nil {
			return err
		}
		if !done {
			// Guard against a Replica whose epochs did not shrink:
			// asking again would loop.
			if e, ok := r.LatestEpoch(); !ok || e >= a.requested {
				done = true
			}
		}
		return nil
	})
	if removed {
		return
	}
	if err != nil {
		ft.localFailed(f, err)
		return
	}
	if truncated {
		ft.log.Info("replication: truncated diverging log", "partition", f.tp, "epoch", f.epoch,
			"from", leo, "to", target, "leaderEpoch", leaderEpoch, "leaderEndOffset", leaderEnd, "done", done)
	}
	if done {
		f.setState(stateFetch)
	}
}

// listOffsets asks the leader's log start (after OFFSET_OUT_OF_RANGE) or
// high watermark (after an UNDEFINED epoch answer) and truncates.
func (ft *fetcher) listOffsets(parts []*follower) error {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(listOffsetsVersion)
	req.ReplicaID = ft.m.o.NodeID
	byKey := make(map[tp]*follower, len(parts))
	topics := map[string]int{}
	for _, f := range parts {
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Partition = f.index
		p.CurrentLeaderEpoch = f.epoch
		p.Timestamp = -1 // latest
		if f.state == stateListEarliest {
			p.Timestamp = -2
		}
		t := topicEntry(&req.Topics, topics, f.topic, func(name string) kmsg.ListOffsetsRequestTopic {
			t := kmsg.NewListOffsetsRequestTopic()
			t.Topic = name
			return t
		})
		t.Partitions = append(t.Partitions, p)
		byKey[f.tp] = f
	}
	kresp, err := ft.request(req, nil)
	if err != nil {
		return err
	}
	ft.applyListOffsetsResponse(kresp.(*kmsg.ListOffsetsResponse), byKey)
	return nil
}

// applyListOffsetsResponse applies a ListOffsets answer to the partitions
// asked for (it takes those answered out of byKey).
func (ft *fetcher) applyListOffsetsResponse(resp *kmsg.ListOffsetsResponse, byKey map[tp]*follower) {
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			k := tp{t.Topic, p.Partition}
			f := byKey[k]
			if f == nil {
				continue
			}
			delete(byKey, k)
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				ft.partitionError(f, "list offsets", err)
				continue
			}
			if p.Offset < 0 {
				ft.partitionError(f, "list offsets", errors.New("replication: leader answered offset -1"))
				continue
			}
			ft.applyListedOffset(f, p.Offset)
		}
	}
	for _, f := range byKey {
		ft.partitionError(f, "list offsets", errors.New("replication: partition missing from the answer"))
	}
}

func (ft *fetcher) applyListedOffset(f *follower, offset int64) {
	earliest := f.state == stateListEarliest
	var leo int64
	var truncated bool
	removed, err := f.call(func(r Replica) error {
		leo = r.LogEndOffset()
		if earliest {
			if leo >= offset {
				return nil // not below the leader's start: epochs decide
			}
			truncated = true
			return r.TruncateFullyAndStartAt(offset)
		}
		var err error
		truncated, err = truncateLocal(r, offset)
		return err
	})
	if removed {
		return
	}
	if err != nil {
		ft.localFailed(f, err)
		return
	}
	switch {
	case earliest && !truncated:
		f.setState(stateTruncate)
	case earliest:
		ft.log.Info("replication: log behind the leader's start, restarted there", "partition", f.tp, "from", leo, "to", offset)
		f.setState(stateFetch)
	default:
		if truncated {
			ft.log.Info("replication: truncated to the leader's high watermark", "partition", f.tp, "from", leo, "to", offset)
		}
		f.setState(stateFetch)
	}
}

// localFailed handles an error of the local replica (a sticky storage
// error, typically): log it once and retry after the backoff.
func (ft *fetcher) localFailed(f *follower, err error) {
	ft.problem(f, slog.LevelError, "local replica failed", err)
	f.delay(time.Now().Add(ft.m.o.Backoff))
}
