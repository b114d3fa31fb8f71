package group

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func commit(group string, gen int32, member string, offsets ...CommitOffset) CommitRequest {
	return CommitRequest{Group: group, Generation: gen, MemberID: member, RetentionMs: -1, Offsets: offsets}
}

func at(topic string, p int32, offset int64) CommitOffset {
	return CommitOffset{TopicPartition: TopicPartition{topic, p}, Offset: offset, LeaderEpoch: -1, Timestamp: -1}
}

// offsetOf fetches one committed offset (-1 if none).
func (tc *testCoord) offsetOf(group, topic string, p int32) int64 {
	tc.t.Helper()
	fos, err := tc.c.FetchOffsets(group, []TopicPartition{{topic, p}}, false)
	if err != nil || len(fos) != 1 {
		tc.t.Fatalf("FetchOffsets %s %s-%d: %v %+v", group, topic, p, err, fos)
	}
	return fos[0].Offset
}

// TestGroupCommitValidation covers who may commit to a group in which
// state, as Kafka's validateOffsetCommit decides.
func TestGroupCommitValidation(t *testing.T) {
	tc := newTestCoord(t, nil)
	one := func(req CommitRequest) error { return tc.c.CommitOffsets(req)[0] }

	// A simple consumer (no generation) may commit to an unknown group,
	// which then exists as an Empty group with no protocol type.
	wantErr(t, "simple commit", one(commit("simple", -1, "", at("t", 0, 10))), nil)
	if d := tc.c.DescribeGroup("simple"); d.State != "Empty" || d.ProtocolType != "" {
		t.Fatalf("simple group %+v", d)
	}
	if got := tc.offsetOf("simple", "t", 0); got != 10 {
		t.Fatalf("committed %d, want 10", got)
	}
	wantErr(t, "generation for an unknown group", one(commit("never", 3, "m", at("t", 0, 1))), ErrIllegalGeneration)
	if d := tc.c.DescribeGroup("never"); !d.NotFound {
		t.Fatalf("a refused commit created group %+v", d)
	}

	const g = "managed"
	ms := tc.stableGroup(g, 2, "t")
	a := ms[0]
	for _, c := range []struct {
		name string
		req  CommitRequest
		want error
	}{
		{"member of the generation", commit(g, a.generation, a.id, at("t", 0, 5)), nil},
		{"outsider while the group is live", commit(g, -1, "", at("t", 0, 6)), ErrUnknownMemberID},
		{"old generation", commit(g, a.generation-1, a.id, at("t", 0, 6)), ErrIllegalGeneration},
		{"unknown member", commit(g, a.generation, "ghost", at("t", 0, 6)), ErrUnknownMemberID},
		{"member id with generation -1", commit(g, -1, a.id, at("t", 0, 6)), ErrIllegalGeneration},
	} {
		wantErr(t, c.name, one(c.req), c.want)
	}
	if got := tc.offsetOf(g, "t", 0); got != 5 {
		t.Fatalf("offset %d after refused commits, want 5", got)
	}

	// A static member's old member id is fenced.
	inst := "st"
	sreq := joinReq("static-commits", "", "t")
	sreq.InstanceID = &inst
	s1 := mustJoin(t, tc.c.JoinGroup(sreq))
	done(t, tc.sync("static-commits", s1, map[string][]byte{s1.id: {}}))
	s2 := done(t, tc.c.JoinGroup(sreq))
	fenced := commit("static-commits", s1.generation, s1.id, at("t", 0, 1))
	fenced.InstanceID = &inst
	wantErr(t, "fenced static member", one(fenced), ErrFencedInstanceID)
	fenced.MemberID = s2.MemberID
	wantErr(t, "its replacement", one(fenced), nil)

	// CompletingRebalance: the new generation has not synced yet.
	ms = tc.rejoinAll(g, ms, "t")
	wantErr(t, "while completing the rebalance", one(commit(g, ms[0].generation, ms[0].id, at("t", 0, 7))), ErrRebalanceInProgress)

	// Metadata over offset.metadata.max.bytes fails only its partition.
	tooBig := strings.Repeat("m", 4097)
	ok := "fine"
	errs := tc.c.CommitOffsets(commit("simple", -1, "",
		CommitOffset{TopicPartition: TopicPartition{"t", 1}, Offset: 1, LeaderEpoch: 3, Metadata: &tooBig, Timestamp: -1},
		CommitOffset{TopicPartition: TopicPartition{"t", 2}, Offset: 2, LeaderEpoch: 3, Metadata: &ok, Timestamp: -1}))
	wantErr(t, "metadata too large", errs[0], ErrMetadataTooLarge)
	wantErr(t, "the other partition", errs[1], nil)
	fos, _ := tc.c.FetchOffsets("simple", []TopicPartition{{"t", 1}, {"t", 2}}, false)
	if fos[0].Offset != -1 || fos[1].Offset != 2 || fos[1].Metadata != "fine" || fos[1].LeaderEpoch != 3 {
		t.Fatalf("fetched %+v", fos)
	}
}

// failModes are the two ways a write fails: its append, or its
// acknowledgement (the records are in the log, but not durable).
var failModes = []struct {
	name string
	set  func(l *memLog, err error)
}{
	{"AppendFails", func(l *memLog, err error) { l.failWith = err }},
	{"AckFails", func(l *memLog, err error) { l.ackErr = err }},
}

// TestGroupCommitNeedsTheAppend: a commit is acknowledged only once its
// records are durable; a failed write changes no cached offset.
func TestGroupCommitNeedsTheAppend(t *testing.T) {
	for _, mode := range failModes {
		t.Run(mode.name, func(t *testing.T) {
			tc := newTestCoord(t, nil)
			wantErr(t, "first commit", tc.c.CommitOffsets(commit("g", -1, "", at("t", 0, 1)))[0], nil)
			log := tc.store.logOf("g")
			mode.set(log, ErrLogUnavailable)
			wantErr(t, "commit with a failing log", tc.c.CommitOffsets(commit("g", -1, "", at("t", 0, 2)))[0], ErrNotCoordinator)
			if mode.name == "AppendFails" {
				mode.set(log, ErrRecordTooLarge)
				wantErr(t, "commit too large for the log", tc.c.CommitOffsets(commit("g", -1, "", at("t", 0, 3)))[0], ErrInvalidCommitSize)
			}
			mode.set(log, nil)
			if got := tc.offsetOf("g", "t", 0); got != 1 {
				t.Fatalf("offset %d after failed writes, want 1", got)
			}
			// A refused commit to a fresh group leaves no group.
			mode.set(tc.store.logOf("h"), ErrLogUnavailable)
			tc.c.CommitOffsets(commit("h", -1, "", at("t", 0, 2)))
			if d := tc.c.DescribeGroup("h"); !d.NotFound {
				t.Fatalf("failed first commit left %+v", d)
			}
		})
	}
}

// TestGroupRecordsAreKafkas decodes what the coordinator wrote with Kafka's
// record definitions.
func TestGroupRecordsAreKafkas(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "formats"
	ms := tc.stableGroup(g, 1, "orders")
	md := "hello"
	tc.c.CommitOffsets(commit(g, ms[0].generation, ms[0].id,
		CommitOffset{TopicPartition: TopicPartition{"orders", 3}, Offset: 42, LeaderEpoch: 7, Metadata: &md, Timestamp: -1}))
	recs := tc.store.logOf(g).records(t)
	var sawGroup, sawOffset bool
	for _, r := range recs {
		switch binary.BigEndian.Uint16(r.key) {
		case 2:
			var k kmsg.GroupMetadataKey
			var v kmsg.GroupMetadataValue
			if k.ReadFrom(r.key) != nil || v.ReadFrom(r.value) != nil {
				t.Fatalf("group record does not decode")
			}
			if v.Version != 3 || k.Group != g {
				t.Fatalf("group record version %d for %q", v.Version, k.Group)
			}
			if v.Generation == ms[0].generation {
				sawGroup = true
				if *v.Protocol != "range" || v.ProtocolType != "consumer" || *v.Leader != ms[0].id || len(v.Members) != 1 ||
					string(v.Members[0].Assignment) != "a-0" || v.Members[0].SessionTimeoutMillis != 10000 || v.Members[0].RebalanceTimeoutMillis != 30000 ||
					v.CurrentStateTimestamp != tc.clock.Now().UnixMilli() {
					t.Fatalf("group metadata %+v", v)
				}
			}
		case 1:
			var k kmsg.OffsetCommitKey
			var v kmsg.OffsetCommitValue
			if k.ReadFrom(r.key) != nil || v.ReadFrom(r.value) != nil {
				t.Fatal("offset record does not decode")
			}
			sawOffset = true
			if k.Group != g || k.Topic != "orders" || k.Partition != 3 || v.Version != 3 || v.Offset != 42 ||
				v.LeaderEpoch != 7 || v.Metadata != "hello" || v.CommitTimestamp != tc.clock.Now().UnixMilli() {
				t.Fatalf("offset record %+v %+v", k, v)
			}
		default:
			t.Fatalf("record with key version %d", binary.BigEndian.Uint16(r.key))
		}
	}
	if !sawGroup || !sawOffset {
		t.Fatalf("records %d: group metadata %v, offset %v", len(recs), sawGroup, sawOffset)
	}
}

// TestGroupLoadRestoresState: a restarted coordinator rebuilds groups and
// offsets from the log: a Stable group keeps its generation, members and
// assignments (members keep heartbeating with no rebalance), deleted groups
// and offsets stay deleted.
func TestGroupLoadRestoresState(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "durable"
	ms := tc.stableGroup(g, 2, "t", "u")
	a := ms[0]
	for i := int64(1); i <= 3; i++ { // later commits win
		tc.c.CommitOffsets(commit(g, a.generation, a.id, at("t", 0, 10*i), at("t", 1, 20*i), at("u", 0, 30*i)))
	}
	tc.c.CommitOffsets(commit("simple", -1, "", at("t", 0, 99), at("gone", 0, 1)))
	tc.c.CommitOffsets(commit("doomed", -1, "", at("t", 0, 5)))
	wantErr(t, "delete doomed", tc.c.DeleteGroup("doomed"), nil)
	errs, gErr := tc.c.DeleteOffsets("simple", []TopicPartition{{"gone", 0}})
	if gErr != nil || errs[0] != nil {
		t.Fatalf("OffsetDelete: %v %v", gErr, errs)
	}
	// A group that emptied: generation bumped, no members.
	es := tc.stableGroup("emptied", 1, "t")
	tc.c.CommitOffsets(commit("emptied", es[0].generation, es[0].id, at("t", 0, 7)))
	tc.c.LeaveGroup("emptied", []LeaveMember{{MemberID: es[0].id}})
	before := tc.c.DescribeGroup(g)

	tc.advance(2 * time.Second)
	tc.restart()

	after := tc.c.DescribeGroup(g)
	if after.State != "Stable" || after.Protocol != before.Protocol || len(after.Members) != 2 {
		t.Fatalf("after restart %+v", after)
	}
	for i := range before.Members {
		bm, am := before.Members[i], after.Members[i]
		if bm.MemberID != am.MemberID || string(bm.Assignment) != string(am.Assignment) || string(bm.Metadata) != string(am.Metadata) {
			t.Fatalf("member %d before %+v after %+v", i, bm, am)
		}
	}
	for _, m := range ms {
		wantErr(t, "heartbeat after restart", tc.c.Heartbeat(g, m.id, nil, m.generation), nil)
	}
	fos, err := tc.c.FetchOffsets(g, nil, true)
	if err != nil || len(fos) != 3 || fos[0].Offset != 30 || fos[1].Offset != 60 || fos[2].Offset != 90 {
		t.Fatalf("offsets after restart: %v %+v", err, fos)
	}
	if got := tc.offsetOf("simple", "t", 0); got != 99 {
		t.Fatalf("simple group offset %d, want 99", got)
	}
	if got := tc.offsetOf("simple", "gone", 0); got != -1 {
		t.Fatalf("deleted offset came back: %d", got)
	}
	if d := tc.c.DescribeGroup("doomed"); !d.NotFound {
		t.Fatalf("deleted group came back: %+v", d)
	}
	if d := tc.c.DescribeGroup("emptied"); d.State != "Empty" || d.ProtocolType != "consumer" || tc.offsetOf("emptied", "t", 0) != 7 {
		t.Fatalf("emptied group after restart: %+v", d)
	}
	// A member that does not come back is expired by the restarted
	// coordinator.
	tc.advance(5 * time.Second)
	wantErr(t, "A heartbeat", tc.c.Heartbeat(g, a.id, nil, a.generation), nil)
	tc.advance(5 * time.Second)
	if d := tc.c.DescribeGroup(g); d.State != "PreparingRebalance" || len(d.Members) != 1 {
		t.Fatalf("B's session did not end after the restart: %+v", d)
	}
	// The new generation continues the old numbering.
	a2 := mustJoin(t, tc.c.JoinGroup(joinReq(g, a.id, "t", "u")))
	if a2.generation != a.generation+1 {
		t.Fatalf("generation %d after restart, want %d", a2.generation, a.generation+1)
	}
}

// TestGroupOffsetExpiry: offsets.retention.minutes removes the offsets of
// Empty groups (counted from when they became Empty), of simple consumers
// (from the commit), and of topics a Stable consumer group no longer
// subscribes to; tombstones make it permanent.
func TestGroupOffsetExpiry(t *testing.T) {
	tc := newTestCoord(t, func(c *Config) {
		c.OffsetsRetention = time.Minute
		c.RetentionCheckInterval = 10 * time.Second
	})
	tc.c.CommitOffsets(commit("simple", -1, "", at("t", 0, 1)))
	es := tc.stableGroup("empty", 1, "t")
	tc.c.CommitOffsets(commit("empty", es[0].generation, es[0].id, at("t", 0, 2)))
	ss := tc.stableGroup("stable", 1, "t")
	tc.c.CommitOffsets(commit("stable", ss[0].generation, ss[0].id, at("t", 0, 3), at("old", 0, 4)))

	// The stable group's member heartbeats throughout, the other one
	// until it leaves.
	emptyLeft := false
	steps := func(n int) {
		for i := 0; i < n; i++ {
			tc.advance(5 * time.Second)
			wantErr(t, "heartbeat", tc.c.Heartbeat("stable", ss[0].id, nil, ss[0].generation), nil)
			if !emptyLeft {
				wantErr(t, "heartbeat", tc.c.Heartbeat("empty", es[0].id, nil, es[0].generation), nil)
			}
		}
	}
	steps(6) // 30 s
	errs, _ := tc.c.LeaveGroup("empty", []LeaveMember{{MemberID: es[0].id}})
	wantErr(t, "leave", errs[0], nil) // Empty from 30 s
	emptyLeft = true
	steps(6) // 60 s
	if d := tc.c.DescribeGroup("simple"); !d.NotFound {
		t.Fatalf("simple group still there after retention since its commit: %+v", d)
	}
	if tc.offsetOf("empty", "t", 0) != 2 {
		t.Fatal("the empty group's offsets expired before retention since it became Empty")
	}
	if tc.offsetOf("stable", "old", 0) != -1 || tc.offsetOf("stable", "t", 0) != 3 {
		t.Fatal("stable group: the unsubscribed topic's offset must expire, the subscribed one stay")
	}
	steps(5) // 85 s
	if tc.offsetOf("empty", "t", 0) != 2 {
		t.Fatal("the empty group's offsets expired before retention since it became Empty")
	}
	steps(1) // 90 s
	if d := tc.c.DescribeGroup("empty"); !d.NotFound {
		t.Fatalf("empty group after retention: %+v", d)
	}
	tc.restart()
	for _, g := range []string{"simple", "empty"} {
		if d := tc.c.DescribeGroup(g); !d.NotFound {
			t.Fatalf("expired group %s came back after a restart: %+v", g, d)
		}
	}
	if tc.offsetOf("stable", "old", 0) != -1 || tc.offsetOf("stable", "t", 0) != 3 {
		t.Fatal("stable group offsets after a restart")
	}
}

// TestGroupDeleteGroupsAndOffsets: DeleteGroups removes only Empty groups;
// OffsetDelete refuses offsets of topics a live consumer group subscribes
// to.
func TestGroupDeleteGroupsAndOffsets(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "live"
	ms := tc.stableGroup(g, 1, "t")
	tc.c.CommitOffsets(commit(g, ms[0].generation, ms[0].id, at("t", 0, 1), at("other", 0, 2)))
	wantErr(t, "delete a live group", tc.c.DeleteGroup(g), ErrNonEmptyGroup)
	wantErr(t, "delete an unknown group", tc.c.DeleteGroup("nope"), ErrGroupNotFound)
	errs, gErr := tc.c.DeleteOffsets(g, []TopicPartition{{"t", 0}, {"other", 0}, {"never", 0}})
	wantErr(t, "OffsetDelete group error", gErr, nil)
	wantErr(t, "subscribed topic", errs[0], ErrSubscribedToTopic)
	wantErr(t, "unsubscribed topic", errs[1], nil)
	wantErr(t, "never committed", errs[2], nil)
	if tc.offsetOf(g, "t", 0) != 1 || tc.offsetOf(g, "other", 0) != -1 {
		t.Fatal("OffsetDelete removed the wrong offsets")
	}
	_, gErr = tc.c.DeleteOffsets("nope", []TopicPartition{{"t", 0}})
	wantErr(t, "OffsetDelete of an unknown group", gErr, ErrGroupNotFound)

	tc.c.LeaveGroup(g, []LeaveMember{{MemberID: ms[0].id}})
	wantErr(t, "delete the emptied group", tc.c.DeleteGroup(g), nil)
	if d := tc.c.DescribeGroup(g); !d.NotFound {
		t.Fatalf("deleted group %+v", d)
	}
	tc.restart()
	if d := tc.c.DescribeGroup(g); !d.NotFound || tc.offsetOf(g, "t", 0) != -1 {
		t.Fatalf("deleted group back after a restart: %+v", d)
	}

	// Deleting every offset of an offsets-only group deletes it.
	tc.c.CommitOffsets(commit("only", -1, "", at("t", 0, 1)))
	_, gErr = tc.c.DeleteOffsets("only", []TopicPartition{{"t", 0}})
	wantErr(t, "OffsetDelete", gErr, nil)
	if d := tc.c.DescribeGroup("only"); !d.NotFound {
		t.Fatalf("group without offsets kept: %+v", d)
	}
}

// TestGroupTopicDeleted: deleting a topic drops every group's offsets of
// it, durably.
func TestGroupTopicDeleted(t *testing.T) {
	tc := newTestCoord(t, nil)
	for _, g := range []string{"g1", "g2", "g3", "g4"} {
		tc.c.CommitOffsets(commit(g, -1, "", at("doomed", 0, 1), at("doomed", 1, 2), at("kept", 0, 3)))
	}
	tc.c.CommitOffsets(commit("only-doomed", -1, "", at("doomed", 0, 1)))
	tc.c.TopicDeleted("doomed")
	tc.restart()
	for _, g := range []string{"g1", "g2", "g3", "g4"} {
		if tc.offsetOf(g, "doomed", 0) != -1 || tc.offsetOf(g, "doomed", 1) != -1 || tc.offsetOf(g, "kept", 0) != 3 {
			t.Fatalf("group %s after the topic was deleted", g)
		}
	}
	if d := tc.c.DescribeGroup("only-doomed"); !d.NotFound {
		t.Fatalf("group left without offsets: %+v", d)
	}
}

// TestGroupListGroups filters by state and type.
func TestGroupListGroups(t *testing.T) {
	tc := newTestCoord(t, nil)
	tc.stableGroup("s1", 1, "t")
	tc.stableGroup("s2", 1, "t")
	tc.c.CommitOffsets(commit("e1", -1, "", at("t", 0, 1)))
	names := func(ls []GroupListing) string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Group+":"+l.State+":"+l.ProtocolType+":"+l.Type)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		states, types []string
		want          string
	}{
		{nil, nil, "e1:Empty::classic,s1:Stable:consumer:classic,s2:Stable:consumer:classic"},
		{[]string{"stable"}, nil, "s1:Stable:consumer:classic,s2:Stable:consumer:classic"},
		{[]string{"Empty", "Dead"}, []string{"Classic"}, "e1:Empty::classic"},
		{nil, []string{"consumer"}, ""},
	} {
		ls, err := tc.c.ListGroups(c.states, c.types)
		if err != nil || names(ls) != c.want {
			t.Errorf("ListGroups(%v, %v) = %q %v, want %q", c.states, c.types, names(ls), err, c.want)
		}
	}
}

// TestGroupOffsetsTopicCreatedOnDemand: reads need no offsets topic; the
// first join or commit creates it.
func TestGroupOffsetsTopicCreatedOnDemand(t *testing.T) {
	tc := newTestCoord(t, nil)
	if d := tc.c.DescribeGroup("g"); !d.NotFound {
		t.Fatalf("describe: %+v", d)
	}
	if ls, err := tc.c.ListGroups(nil, nil); err != nil || len(ls) != 0 {
		t.Fatalf("list: %v %v", ls, err)
	}
	if fos, err := tc.c.FetchOffsets("g", []TopicPartition{{"t", 0}}, false); err != nil || fos[0].Offset != -1 {
		t.Fatalf("fetch: %+v %v", fos, err)
	}
	if tc.store.Partitions() != 0 {
		t.Fatal("reads created the offsets topic")
	}
	if err := tc.c.FindCoordinator("g"); err != nil {
		t.Fatal(err)
	}
	if tc.store.Partitions() != 4 || tc.store.created != 1 {
		t.Fatalf("offsets topic has %d partitions (created %d times), want 4 once", tc.store.Partitions(), tc.store.created)
	}
	// Deleting the offsets topic unloads everything; it comes back on use.
	tc.c.CommitOffsets(commit("g", -1, "", at("t", 0, 1)))
	tc.store.logs = nil
	tc.c.TopicDeleted("__consumer_offsets")
	if d := tc.c.DescribeGroup("g"); !d.NotFound {
		t.Fatalf("group survived the deletion of the offsets topic: %+v", d)
	}
	wantErr(t, "commit after the offsets topic was deleted", tc.c.CommitOffsets(commit("g", -1, "", at("t", 0, 2)))[0], nil)
	if tc.offsetOf("g", "t", 0) != 2 || tc.store.created != 2 {
		t.Fatal("offsets topic not recreated")
	}
}

// TestGroupCloseAnswersWaiters: unloading a shard answers waiting joins and
// syncs NOT_COORDINATOR, and later requests get it too.
func TestGroupCloseAnswersWaiters(t *testing.T) {
	tc := newTestCoord(t, nil)
	ms := tc.stableGroup("g", 1, "t")
	fNew := tc.joinNew("g", "t")
	waiting(t, fNew)
	tc.c.Resign(tc.c.PartitionOf("g"))
	wantErr(t, "waiting join", done(t, fNew).Err, ErrNotCoordinator)
	wantErr(t, "heartbeat", tc.c.Heartbeat("g", ms[0].id, nil, ms[0].generation), ErrNotCoordinator)
	if err := tc.c.Elect(tc.c.PartitionOf("g")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "heartbeat after re-election", tc.c.Heartbeat("g", ms[0].id, nil, ms[0].generation), nil)
	tc.c.Close()
	wantErr(t, "after Close", tc.c.Heartbeat("g", ms[0].id, nil, ms[0].generation), ErrCoordinatorNotAvailable)
}
