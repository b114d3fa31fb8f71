package node

import "github.com/gregor-dev/gregor/internal/metrics"

// nodeView is what a metrics scrape reads of the node.
type nodeView struct{ n *Node }

func (v nodeView) Partitions() []metrics.PartitionState {
	b := v.n.b
	if b == nil {
		return nil
	}
	var out []metrics.PartitionState
	for _, name := range b.TopicNames() {
		t, ok := b.Topic(name)
		if !ok {
			continue
		}
		for _, p := range b.Partitions(t) {
			if p == nil {
				continue
			}
			st := metrics.PartitionState{
				Topic: p.Topic, Partition: p.Index, Size: p.Size(),
				LogStartOffset: p.LogStartOffset(), LogEndOffset: p.LogEndOffset(), Leader: p.IsLeader(),
			}
			st.UnderReplicated = p.UnderReplicated()
			st.Damaged = len(p.Damaged()) > 0
			out = append(out, st)
		}
	}
	return out
}

func (v nodeView) Controller() (bool, int) {
	cl := v.n.cl
	if cl == nil || !cl.IsController() {
		return false, 0
	}
	offline := 0
	img := cl.Image()
	for _, t := range img.Topics {
		for _, p := range t.Partitions {
			if p.Leader < 0 || !img.Live(p.Leader) {
				offline++
			}
		}
	}
	return true, offline
}

func (v nodeView) SegmentFiles() (int, int, int64) {
	if v.n.b == nil {
		return 0, 0, 0
	}
	st := v.n.b.OpenSegmentFiles()
	return st.Open, st.Max, st.Evictions
}

func (v nodeView) FetchSessions() int {
	if v.n.h == nil {
		return 0
	}
	return v.n.h.FetchSessions()
}

func (v nodeView) GroupLags() []metrics.GroupLag {
	n := v.n
	if n.groups == nil || n.b == nil {
		return nil
	}
	var out []metrics.GroupLag
	for _, c := range n.groups.AllCommitted() {
		_, p, err := n.b.Partition(c.Topic, c.Partition)
		if err != nil || !p.IsLeader() {
			continue // the log end is another broker's to report
		}
		out = append(out, metrics.GroupLag{Group: c.Group, Topic: c.Topic, Partition: c.Partition, Committed: c.Offset, End: p.HighWatermark()})
	}
	return out
}
