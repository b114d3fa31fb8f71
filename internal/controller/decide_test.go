package controller

import (
	"errors"
	"slices"
	"testing"
)

// wantPart is a partition's expected state; part starts at leader epoch 5
// and partition epoch 7.
type wantPart struct {
	leader int32
	isr    []int32
	le, pe int32
}

func checkPart(t *testing.T, img *Image, topic string, i int32, w wantPart) {
	t.Helper()
	p := img.Topics[topic].Partitions[i]
	if p.Leader != w.leader || !slices.Equal(p.ISR, w.isr) || p.LeaderEpoch != w.le || p.PartitionEpoch != w.pe {
		t.Fatalf("%s-%d: leader %d isr %v epochs %d/%d, want leader %d isr %v epochs %d/%d",
			topic, i, p.Leader, p.ISR, p.LeaderEpoch, p.PartitionEpoch, w.leader, w.isr, w.le, w.pe)
	}
}

// checkChanges checks recs past the first n are one partition change each
// for the listed partitions of topic t.
func checkChanges(t *testing.T, recs []Record, n int, partitions ...int32) {
	t.Helper()
	var got []int32
	for _, r := range recs[n:] {
		if r.Type != RecPartitionChange || r.TopicName != "t" {
			t.Fatalf("unexpected record %+v", r)
		}
		got = append(got, r.Partition)
	}
	if !slices.Equal(got, partitions) {
		t.Fatalf("changed partitions %v, want %v", got, partitions)
	}
}

func TestControllerFenceBroker(t *testing.T) {
	tests := []struct {
		name     string
		before   []Record // after brokers 1..4 register
		p        Partition
		id       int32
		shutdown bool
		unclean  bool
		want     *wantPart // nil: no change
	}{
		{name: "leader moves to next ISR member", p: part(1, ids(1, 2, 3), ids(1, 2, 3)), id: 1,
			want: &wantPart{2, ids(2, 3), 6, 8}},
		{name: "leader moves in replica order, not ISR order", p: part(1, ids(1, 3, 2), ids(2, 1, 3)), id: 1,
			want: &wantPart{3, ids(2, 3), 6, 8}},
		{name: "out-of-sync replica is passed over", p: part(1, ids(1, 2, 3), ids(1, 3)), id: 1,
			want: &wantPart{3, ids(3), 6, 8}},
		{name: "fenced ISR member is passed over", before: []Record{fenceRec(2)}, p: part(1, ids(1, 2, 3), ids(1, 2, 3)), id: 1,
			want: &wantPart{3, ids(2, 3), 6, 8}},
		{name: "follower leaves the ISR", p: part(1, ids(1, 2, 3), ids(1, 2, 3)), id: 2,
			want: &wantPart{1, ids(1, 3), 5, 8}},
		{name: "out-of-sync follower: no change", p: part(1, ids(1, 2, 3), ids(1, 2)), id: 3},
		{name: "not a replica: no change", p: part(1, ids(1, 2, 3), ids(1, 2, 3)), id: 4},
		{name: "last ISR member stays, no leader", p: part(1, ids(1, 2, 3), ids(1)), id: 1,
			want: &wantPart{-1, ids(1), 6, 8}},
		{name: "last ISR member stays though others are live", p: part(2, ids(1, 2), ids(2)), id: 2,
			want: &wantPart{-1, ids(2), 6, 8}},
		{name: "unclean picks a live out-of-sync replica", p: part(1, ids(1, 2, 3), ids(1)), id: 1, unclean: true,
			want: &wantPart{2, ids(2), 6, 8}},
		{name: "unclean skips fenced replicas", before: []Record{fenceRec(2)}, p: part(1, ids(1, 2, 3), ids(1)), id: 1, unclean: true,
			want: &wantPart{3, ids(3), 6, 8}},
		{name: "unclean prefers the ISR", p: part(1, ids(1, 2, 3), ids(1, 3)), id: 1, unclean: true,
			want: &wantPart{3, ids(3), 6, 8}},
		{name: "unclean with no live replica", before: []Record{fenceRec(2)}, p: part(1, ids(1, 2), ids(1)), id: 1, unclean: true,
			want: &wantPart{-1, ids(1), 6, 8}},
		{name: "leaderless partition loses a follower", before: []Record{fenceRec(1)}, p: part(-1, ids(1, 2, 3), ids(1, 2)), id: 2,
			want: &wantPart{-1, ids(1), 5, 8}},
		{name: "shutdown moves leadership", p: part(1, ids(1, 2, 3), ids(1, 2, 3)), id: 1, shutdown: true,
			want: &wantPart{2, ids(2, 3), 6, 8}},
		{name: "shutdown follower leaves the ISR", p: part(3, ids(1, 2, 3), ids(1, 2, 3)), id: 1, shutdown: true,
			want: &wantPart{3, ids(2, 3), 5, 8}},
		{name: "shutdown of the last ISR member", p: part(1, ids(1, 2), ids(1)), id: 1, shutdown: true,
			want: &wantPart{-1, ids(1), 6, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := build(t, concat(regRecs(4), tc.before, []Record{topicRec("t", tc.p)})...)
			policy := cleanOnly
			if tc.unclean {
				policy = uncleanOnly
			}
			recs := FenceBroker(img, tc.id, tc.shutdown, policy)
			wantType := RecFenceBroker
			if tc.shutdown {
				wantType = RecShutdownBroker
			}
			if len(recs) == 0 || recs[0].Type != wantType || recs[0].BrokerID != tc.id {
				t.Fatalf("records %+v do not start with %s of %d", recs, wantType, tc.id)
			}
			next := applyAll(t, img, recs)
			if b := next.Brokers[tc.id]; b.Fenced == tc.shutdown || b.ShuttingDown != tc.shutdown || next.Live(tc.id) {
				t.Fatalf("broker after: %+v", b)
			}
			if tc.want == nil {
				checkChanges(t, recs, 1)
				return
			}
			checkChanges(t, recs, 1, 0)
			checkPart(t, next, "t", 0, *tc.want)
			if next.Topics["t"].Partitions[0].Leader == tc.id {
				t.Fatal("fenced broker still leads")
			}
		})
	}
}

func TestControllerFenceBrokerPerTopicPolicy(t *testing.T) {
	img := build(t, concat(regRecs(3), []Record{
		topicRec("clean", part(1, ids(1, 2), ids(1)), part(2, ids(2, 1), ids(2, 1)), part(3, ids(3, 2), ids(3))),
		topicRec("dirty", part(1, ids(1, 2), ids(1))),
	})...)
	recs := FenceBroker(img, 1, false, func(topic string) bool { return topic == "dirty" })
	if len(recs) != 4 {
		t.Fatalf("records %+v, want the fence and 3 changes", recs)
	}
	next := applyAll(t, img, recs)
	checkPart(t, next, "clean", 0, wantPart{-1, ids(1), 6, 8})
	checkPart(t, next, "clean", 1, wantPart{2, ids(2), 5, 8})
	checkPart(t, next, "clean", 2, wantPart{3, ids(3), 5, 7})
	checkPart(t, next, "dirty", 0, wantPart{2, ids(2), 6, 8})
	if got := LedBy(next, 1); len(got) != 0 {
		t.Fatalf("fenced broker leads %v", got)
	}
	if got, want := LedBy(next, 2), []TopicPartition{{"clean", 1}, {"dirty", 0}}; !slices.Equal(got, want) {
		t.Fatalf("LedBy(2) = %v, want %v", got, want)
	}
	if c := LeaderCount(next); c[1] != 0 || c[2] != 2 || c[3] != 1 || c[-1] != 0 {
		t.Fatalf("LeaderCount = %v", c)
	}
	// Fencing it again changes nothing more.
	if again := FenceBroker(next, 1, false, uncleanOnly); len(again) != 1 {
		t.Fatalf("second fence wrote %+v", again)
	}
}

func TestControllerUnfenceBroker(t *testing.T) {
	tests := []struct {
		name    string
		before  []Record // after brokers 1..4 register and topic t is created
		p       Partition
		id      int32
		unclean bool
		want    *wantPart
	}{
		{name: "last ISR member leads again", before: []Record{fenceRec(1)}, p: part(-1, ids(1, 2, 3), ids(1)), id: 1,
			want: &wantPart{1, ids(1), 6, 8}},
		{name: "out-of-sync replica does not lead", before: []Record{fenceRec(1), fenceRec(2)}, p: part(-1, ids(1, 2), ids(2)), id: 1},
		{name: "unclean lets an out-of-sync replica lead", before: []Record{fenceRec(1), fenceRec(2)}, p: part(-1, ids(1, 2), ids(2)), id: 1, unclean: true,
			want: &wantPart{1, ids(1), 6, 8}},
		{name: "live leader is kept", before: []Record{fenceRec(2)}, p: part(1, ids(2, 1), ids(1)), id: 2, unclean: true},
		{name: "shutting down broker comes back", before: []Record{shutdownRec(3)}, p: part(-1, ids(3, 4), ids(3)), id: 3,
			want: &wantPart{3, ids(3), 6, 8}},
		{name: "leader left fenced without a change is replaced", before: []Record{fenceRec(1), fenceRec(2)}, p: part(1, ids(1, 2, 3), ids(1, 2, 3)), id: 2,
			want: &wantPart{2, ids(1, 2, 3), 6, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := build(t, concat(regRecs(4), []Record{topicRec("t", tc.p)}, tc.before)...)
			policy := cleanOnly
			if tc.unclean {
				policy = uncleanOnly
			}
			recs := UnfenceBroker(img, tc.id, policy)
			if len(recs) == 0 || recs[0].Type != RecUnfenceBroker || recs[0].BrokerID != tc.id {
				t.Fatalf("records %+v do not start with the unfence of %d", recs, tc.id)
			}
			next := applyAll(t, img, recs)
			if !next.Live(tc.id) {
				t.Fatalf("broker %+v not live", next.Brokers[tc.id])
			}
			if tc.want == nil {
				checkChanges(t, recs, 1)
				return
			}
			checkChanges(t, recs, 1, 0)
			checkPart(t, next, "t", 0, *tc.want)
		})
	}
}

func TestControllerFenceUnfenceCycle(t *testing.T) {
	img := build(t, concat(regRecs(3), []Record{topicRec("t", part(1, ids(1, 2, 3), ids(1, 2, 3)))})...)
	steps := []struct {
		recs func(*Image) []Record
		want wantPart
	}{
		{func(img *Image) []Record { return FenceBroker(img, 1, false, cleanOnly) }, wantPart{2, ids(2, 3), 6, 8}},
		{func(img *Image) []Record { return FenceBroker(img, 2, false, cleanOnly) }, wantPart{3, ids(3), 7, 9}},
		{func(img *Image) []Record { return FenceBroker(img, 3, true, cleanOnly) }, wantPart{-1, ids(3), 8, 10}},
		// 1 and 2 are not in sync: only 3 may lead.
		{func(img *Image) []Record { return UnfenceBroker(img, 1, cleanOnly) }, wantPart{-1, ids(3), 8, 10}},
		{func(img *Image) []Record { return UnfenceBroker(img, 3, cleanOnly) }, wantPart{3, ids(3), 9, 11}},
		{func(img *Image) []Record { return PreferredElections(img, nil) }, wantPart{3, ids(3), 9, 11}},
	}
	for i, s := range steps {
		img = applyAll(t, img, s.recs(img))
		t.Logf("step %d: %+v", i, img.Topics["t"].Partitions[0])
		checkPart(t, img, "t", 0, s.want)
	}
}

func TestControllerElectLeaderless(t *testing.T) {
	img := build(t, concat(regRecs(3), []Record{
		topicRec("a", part(-1, ids(1, 2), ids(1, 2)), part(2, ids(1, 2), ids(1, 2))),
		topicRec("b", part(-1, ids(3, 1), ids(3))),
		fenceRec(3),
	})...)
	recs := electLeaderless(img, cleanOnly)
	if len(recs) != 1 || recs[0].TopicName != "a" || recs[0].Partition != 0 {
		t.Fatalf("records %+v, want a-0 only", recs)
	}
	next := applyAll(t, img, recs)
	checkPart(t, next, "a", 0, wantPart{1, ids(1, 2), 6, 8})
	checkPart(t, next, "b", 0, wantPart{-1, ids(3), 5, 7})
	next = applyAll(t, img, electLeaderless(img, uncleanOnly))
	checkPart(t, next, "b", 0, wantPart{1, ids(1), 6, 8})
}

func TestControllerPreferredElections(t *testing.T) {
	img := build(t, concat(regRecs(4), []Record{
		topicRec("t",
			part(2, ids(1, 2, 3), ids(1, 2, 3)), // 0: moves back to 1
			part(1, ids(1, 2, 3), ids(1, 2, 3)), // 1: already preferred
			part(2, ids(3, 2, 1), ids(2, 1)),    // 2: preferred out of sync
			part(3, ids(4, 3), ids(4, 3)),       // 3: preferred fenced
			part(3, ids(2, 3), ids(2, 3)),       // 4: moves back to 2
		),
		fenceRec(4),
	})...)
	recs := PreferredElections(img, nil)
	checkChanges(t, recs, 0, 0, 4)
	next := applyAll(t, img, recs)
	checkPart(t, next, "t", 0, wantPart{1, ids(1, 2, 3), 6, 8})
	checkPart(t, next, "t", 1, wantPart{1, ids(1, 2, 3), 5, 7})
	checkPart(t, next, "t", 2, wantPart{2, ids(2, 1), 5, 7})
	checkPart(t, next, "t", 3, wantPart{3, ids(4, 3), 5, 7})
	checkPart(t, next, "t", 4, wantPart{2, ids(2, 3), 6, 8})
	if again := PreferredElections(next, nil); len(again) != 0 {
		t.Fatalf("second round wrote %+v", again)
	}
	only := PreferredElections(img, func(topic string, p int32) bool { return topic == "t" && p == 4 })
	checkChanges(t, only, 0, 4)
}

func TestControllerElectPartition(t *testing.T) {
	img := build(t, concat(regRecs(4), []Record{
		topicRec("t",
			part(2, ids(1, 2, 3), ids(1, 2, 3)), // 0: preferred 1 available
			part(1, ids(1, 2, 3), ids(1, 2, 3)), // 1: preferred leads
			part(2, ids(3, 2), ids(2)),          // 2: preferred out of sync
			part(3, ids(4, 3), ids(4, 3)),       // 3: preferred fenced
			part(-1, ids(4, 2, 1), ids(4)),      // 4: leaderless, ISR fenced
			part(-1, ids(4, 2, 3), ids(4, 3)),   // 5: leaderless, a live ISR member
			part(-1, ids(4), ids(4)),            // 6: no live replica
			part(4, ids(4, 1), ids(4)),          // 7: leader fenced in place
		),
		fenceRec(4),
	})...)
	tests := []struct {
		name      string
		topic     string
		index     int32
		preferred bool
		err       error
		want      wantPart
	}{
		{name: "unknown topic", topic: "nope", preferred: true, err: ErrUnknownTopicOrPartition},
		{name: "negative index", topic: "t", index: -1, err: ErrUnknownTopicOrPartition},
		{name: "index past the end", topic: "t", index: 8, preferred: true, err: ErrUnknownTopicOrPartition},
		{name: "preferred success", topic: "t", index: 0, preferred: true, want: wantPart{1, ids(1, 2, 3), 6, 8}},
		{name: "preferred not needed", topic: "t", index: 1, preferred: true, err: ErrElectionNotNeeded},
		{name: "preferred out of sync", topic: "t", index: 2, preferred: true, err: ErrPreferredNotAvailable},
		{name: "preferred fenced", topic: "t", index: 3, preferred: true, err: ErrPreferredNotAvailable},
		{name: "preferred of a leaderless partition", topic: "t", index: 4, preferred: true, err: ErrPreferredNotAvailable},
		{name: "unclean not needed with a live leader", topic: "t", index: 0, err: ErrElectionNotNeeded},
		{name: "unclean success", topic: "t", index: 4, want: wantPart{2, ids(2), 6, 8}},
		{name: "unclean prefers the ISR", topic: "t", index: 5, want: wantPart{3, ids(4, 3), 6, 8}},
		{name: "unclean with no live replica", topic: "t", index: 6, err: ErrEligibleLeadersNotAvail},
		{name: "unclean replaces a fenced leader", topic: "t", index: 7, want: wantPart{1, ids(1), 6, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := ElectPartition(img, tc.topic, tc.index, tc.preferred)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err != nil {
				if rec.Type != "" {
					t.Fatalf("a record %+v with error %v", rec, err)
				}
				return
			}
			if rec.Type != RecPartitionChange || rec.TopicName != tc.topic || rec.Partition != tc.index {
				t.Fatalf("record %+v", rec)
			}
			checkPart(t, applyAll(t, img, []Record{rec}), tc.topic, tc.index, tc.want)
		})
	}
}

func TestControllerAlterISR(t *testing.T) {
	// Broker n has epoch n; 4 is fenced, 5 shutting down; all hold replicas
	// of t-1.
	img := build(t, concat(regRecs(6), []Record{
		fenceRec(4), shutdownRec(5),
		topicRec("t",
			part(1, ids(1, 2, 3), ids(1, 2, 3)),
			part(1, ids(3, 1, 2, 4, 5), ids(1)),
		),
	})...)
	type req struct {
		broker  int32
		bEpoch  int64
		topic   string
		index   int32
		le, pe  int32
		isr     []int32
		wantErr error
	}
	ok := func(isr ...int32) req { return req{1, 1, "t", 0, 5, 7, isr, nil} }
	ok1 := func(isr ...int32) req { return req{1, 1, "t", 1, 5, 7, isr, nil} }
	tests := []struct {
		name string
		req  req
		want *wantPart // nil: no record
	}{
		{name: "shrink", req: ok(1, 2), want: &wantPart{1, ids(1, 2), 5, 8}},
		{name: "shrink to the leader", req: ok(1), want: &wantPart{1, ids(1), 5, 8}},
		{name: "unknown broker epoch", req: req{1, -1, "t", 0, 5, 7, ids(1, 3), nil}, want: &wantPart{1, ids(1, 3), 5, 8}},
		{name: "expand keeps replica order", req: ok1(2, 1, 3), want: &wantPart{1, ids(3, 1, 2), 5, 8}},
		{name: "idempotent retry", req: ok(1, 2, 3)},
		{name: "idempotent retry in another order", req: ok(3, 1, 2)},
		{name: "idempotent retry at a stale partition epoch", req: req{1, 1, "t", 0, 5, 6, ids(2, 3, 1), nil}},
		{name: "duplicate ids are no change", req: ok(1, 2, 3, 3)},
		{name: "duplicate ids in a shrink", req: ok(1, 1, 2), want: &wantPart{1, ids(1, 2), 5, 8}},
		{name: "stale broker epoch", req: req{1, 2, "t", 0, 5, 7, ids(1, 2), ErrStaleBrokerEpoch}},
		{name: "unknown broker", req: req{9, -1, "t", 0, 5, 7, ids(1, 2), ErrStaleBrokerEpoch}},
		{name: "unknown topic", req: req{1, 1, "nope", 0, 5, 7, ids(1, 2), ErrUnknownTopicOrPartition}},
		{name: "unknown partition", req: req{1, 1, "t", 2, 5, 7, ids(1, 2), ErrUnknownTopicOrPartition}},
		{name: "negative partition", req: req{1, 1, "t", -1, 5, 7, ids(1, 2), ErrUnknownTopicOrPartition}},
		{name: "not the leader", req: req{2, 2, "t", 0, 5, 7, ids(2, 3), ErrNotLeader}},
		{name: "old leader epoch", req: req{1, 1, "t", 0, 4, 7, ids(1, 2), ErrFencedLeaderEpoch}},
		{name: "future leader epoch", req: req{1, 1, "t", 0, 6, 7, ids(1, 2), ErrFencedLeaderEpoch}},
		{name: "stale partition epoch", req: req{1, 1, "t", 0, 5, 6, ids(1, 2), ErrInvalidUpdateVersion}},
		{name: "future partition epoch", req: req{1, 1, "t", 0, 5, 8, ids(1, 2), ErrInvalidUpdateVersion}},
		{name: "empty ISR", req: req{1, 1, "t", 0, 5, 7, nil, ErrIneligibleReplica}},
		{name: "not a replica", req: req{1, 1, "t", 0, 5, 7, ids(1, 2, 6), ErrIneligibleReplica}},
		{name: "adding a fenced replica", req: req{1, 1, "t", 1, 5, 7, ids(1, 4), ErrIneligibleReplica}},
		{name: "adding a shutting down replica", req: req{1, 1, "t", 1, 5, 7, ids(1, 2, 5), ErrIneligibleReplica}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req
			cur := img.Topics["t"].Partitions[max(0, min(r.index, 1))]
			rec, st, err := AlterISR(img, r.broker, r.bEpoch, r.topic, r.index, r.le, r.pe, slices.Clone(r.isr))
			if !errors.Is(err, r.wantErr) {
				t.Fatalf("error %v, want %v", err, r.wantErr)
			}
			if err != nil || tc.want == nil {
				if rec != nil {
					t.Fatalf("record %+v, want none", rec)
				}
				// The answer is the current state, for the leader to adopt.
				if err == nil && (st.PartitionEpoch != cur.PartitionEpoch || !slices.Equal(st.ISR, cur.ISR) || st.Leader != cur.Leader) {
					t.Fatalf("state %+v, want the current %+v", st, cur)
				}
				return
			}
			if rec == nil || rec.Type != RecPartitionChange || rec.TopicName != r.topic || rec.Partition != r.index {
				t.Fatalf("record %+v", rec)
			}
			next := applyAll(t, img, []Record{*rec})
			checkPart(t, next, r.topic, r.index, *tc.want)
			if got := next.Topics[r.topic].Partitions[r.index]; st.PartitionEpoch != got.PartitionEpoch || !slices.Equal(st.ISR, got.ISR) || st.LeaderEpoch != got.LeaderEpoch {
				t.Fatalf("answered state %+v, but the image has %+v", st, got)
			}
			// The same request again is a retry: no record, no error.
			rec, _, err = AlterISR(next, r.broker, r.bEpoch, r.topic, r.index, r.le, r.pe, r.isr)
			if rec != nil || err != nil {
				t.Fatalf("retry: %+v, %v", rec, err)
			}
		})
	}
}

// An ISR without the leader is its resignation (a leader with damage at
// rest): a new leader from that ISR, at a new leader epoch, the old one out.
func TestControllerAlterISRResignation(t *testing.T) {
	img := build(t, concat(regRecs(6), []Record{
		fenceRec(4),
		topicRec("t", part(1, ids(1, 2, 3), ids(1, 2, 3)), part(1, ids(1, 4), ids(1, 4))),
	})...)
	rec, st, err := AlterISR(img, 1, 1, "t", 0, 5, 7, ids(3, 2))
	if err != nil || rec == nil {
		t.Fatalf("resignation: %+v %v", rec, err)
	}
	next := applyAll(t, img, []Record{*rec})
	checkPart(t, next, "t", 0, wantPart{2, ids(2, 3), 6, 8})
	if st.Leader != 2 || st.LeaderEpoch != 6 {
		t.Fatalf("answered %+v", st)
	}
	// The old leader's retry is answered NOT_LEADER: it has its answer.
	if _, _, err := AlterISR(next, 1, 1, "t", 0, 5, 7, ids(2, 3)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("retry: %v", err)
	}
	for name, isr := range map[string][]int32{"empty": nil, "not in the ISR": ids(2, 6), "fenced rest": ids(4)} {
		index := int32(0)
		if name == "fenced rest" {
			index = 1
		}
		if rec, _, err := AlterISR(img, 1, 1, "t", index, 5, 7, isr); !errors.Is(err, ErrIneligibleReplica) || rec != nil {
			t.Fatalf("resignation to %s ISR %v: %+v %v", name, isr, rec, err)
		}
	}
}

// TestControllerAlterISRAfterFence follows Kafka's sequence: the leader's
// request built before a fence arrives after it, at an old partition epoch.
func TestControllerAlterISRAfterFence(t *testing.T) {
	img := build(t, concat(regRecs(3), []Record{topicRec("t", part(1, ids(1, 2, 3), ids(1, 2, 3)))})...)
	img = applyAll(t, img, FenceBroker(img, 3, false, cleanOnly)) // ISR 1,2 at partition epoch 8
	if _, _, err := AlterISR(img, 1, 1, "t", 0, 5, 7, ids(1)); !errors.Is(err, ErrInvalidUpdateVersion) {
		t.Fatalf("request at the old partition epoch: %v", err)
	}
	rec, st, err := AlterISR(img, 1, 1, "t", 0, 5, 8, ids(1, 2, 3))
	if !errors.Is(err, ErrIneligibleReplica) || rec != nil {
		t.Fatalf("re-adding the fenced broker: %+v %v", rec, err)
	}
	img = applyAll(t, img, UnfenceBroker(img, 3, cleanOnly))
	rec, st, err = AlterISR(img, 1, 1, "t", 0, 5, 8, ids(1, 2, 3))
	if err != nil || rec == nil || !slices.Equal(st.ISR, ids(1, 2, 3)) || st.PartitionEpoch != 9 || st.LeaderEpoch != 5 {
		t.Fatalf("re-adding the unfenced broker: %+v %+v %v", rec, st, err)
	}
	// After a re-registration its old broker epoch is stale.
	img, _ = img.Apply(img.Offset+1, []Record{regRec(1, "")})
	if _, _, err := AlterISR(img, 1, 1, "t", 0, 5, 8, ids(1, 2)); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("old incarnation: %v", err)
	}
}
