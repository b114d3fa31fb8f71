package cluster_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/record"
)

// rotSealedBatch flips a byte inside the second batch of the first
// segment of topic-0 on node rn.
func rotSealedBatch(t *testing.T, rn *rigNode, topic string) {
	t.Helper()
	seg := filepath.Join(broker.PartitionDir(rn.n.Broker().Config().DataDir(), topic, 0), "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _, err := record.Next(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pos := h.Size() + 40
	if _, err := f.WriteAt([]byte{data[pos] ^ 0xff}, pos); err != nil {
		t.Fatal(err)
	}
}

// repaired waits until rn's replica of topic-0 has no damage left, is back
// in the ISR and ends where the leader's log ends.
func repaired(t *testing.T, r *rig, rn *rigNode, topic string) {
	t.Helper()
	waitFor(t, 20*time.Second, "the damaged replica repaired and back in the ISR", func() bool {
		st := r.partition(topic, 0)
		p := rn.n.Broker().LocalPartition(topic, 0)
		lp := r.node(st.Leader).n.Broker().LocalPartition(topic, 0)
		return len(p.Damaged()) == 0 && slices.Contains(st.ISR, rn.id) && p.LogEndOffset() == lp.LogEndOffset()
	})
}

// Bytes that rot in a sealed segment are found by the scrubber and
// repaired from an in-sync replica, on a follower (it leaves the ISR, then
// truncates and refetches) and on the leader (it resigns to an in-sync
// replica, then repairs as a follower); every acknowledged record stays
// readable at its offset.
func TestClusterScrubRepairsDamagedReplicas(t *testing.T) {
	r := newRig(t, 3)
	createTopic(t, r, "d", 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2"), "segment.bytes": kadm.StringPtr("1024")})
	cl := r.client(manualPartitioner(), kgo.RequiredAcks(kgo.AllISRAcks()))
	acked := produceN(t, cl, "d", "a", 60)
	waitFor(t, 10*time.Second, "all replicas in sync", func() bool { return len(r.partition("d", 0).ISR) == 3 })

	st := r.partition("d", 0)
	var follower *rigNode
	for _, id := range st.Replicas {
		if id != st.Leader {
			follower = r.node(id)
			break
		}
	}
	rotSealedBatch(t, follower, "d")
	if n := follower.n.Broker().ScrubNow(testCtx(t)); n != 1 {
		t.Fatalf("scrub of the follower found %d", n)
	}
	repaired(t, r, follower, "d")
	if p := r.partition("d", 0); p.Leader != st.Leader {
		t.Fatalf("a damaged follower moved the leadership: %+v", p)
	}

	before := r.partition("d", 0)
	leader := r.node(before.Leader)
	rotSealedBatch(t, leader, "d")
	if n := leader.n.Broker().ScrubNow(testCtx(t)); n != 1 {
		t.Fatalf("scrub of the leader found %d", n)
	}
	waitFor(t, 10*time.Second, "the damaged leader resigned", func() bool {
		p := r.partition("d", 0)
		return p.Leader >= 0 && p.Leader != leader.id && p.LeaderEpoch > before.LeaderEpoch
	})
	for off, v := range produceN(t, cl, "d", "b", 10) {
		acked[off] = v
	}
	repaired(t, r, leader, "d")
	got := readAll(t, r, "d", len(acked))
	for off, v := range acked {
		if got[off] != v {
			t.Fatalf("offset %d: read %q, acknowledged %q", off, got[off], v)
		}
	}
}
