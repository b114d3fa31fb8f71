package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/testutil"
)

// Tests of the group APIs: franz-go consumer groups (eager and cooperative
// balancers), kadm's group admin, and raw requests at chosen versions.

// groupSets are broker settings that keep group tests quick: no initial
// rebalance delay and a small offsets topic.
var groupSets = []string{"group.initial.rebalance.delay.ms=0", "offsets.topic.num.partitions=5"}

// waitFor polls fn every 50 ms until it returns nil, failing the test with
// its last error after d.
func waitFor(t *testing.T, d time.Duration, fn func() error) {
	t.Helper()
	testutil.Eventually(t, d, fn)
}

// produceValues produces n records "<tag>-<i>" keyed by i, spread over the
// topic's partitions, and waits for them.
func produceValues(t *testing.T, tb *testBroker, topic, tag string, n int) []string {
	t.Helper()
	cl := tb.client(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var values []string
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%04d", tag, i)
		values = append(values, v)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(v), Value: []byte(v)})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return values
}

// groupRun runs franz-go members of one consumer group and checks, through
// their assignment callbacks, that no partition is ever owned by two
// members at once.
type groupRun struct {
	t        *testing.T
	tb       *testBroker
	group    string
	topic    string
	balancer kgo.GroupBalancer
	extra    []kgo.Opt

	mu       sync.Mutex
	owner    map[int32]string
	overlaps []string
	seen     map[string]int
	assigns  map[string]int // member → OnPartitionsAssigned calls
	members  map[string]*runMember
}

type runMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func newGroupRun(t *testing.T, tb *testBroker, topic string, balancer kgo.GroupBalancer, extra ...kgo.Opt) *groupRun {
	r := &groupRun{
		t: t, tb: tb, group: "group-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), topic: topic, balancer: balancer, extra: extra,
		owner: map[int32]string{}, seen: map[string]int{}, assigns: map[string]int{}, members: map[string]*runMember{},
	}
	t.Cleanup(func() {
		for name := range r.members {
			r.stop(name)
		}
	})
	return r
}

func (r *groupRun) start(name string, opts ...kgo.Opt) *kgo.Client {
	r.t.Helper()
	release := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range m[r.topic] {
			if r.owner[p] == name {
				delete(r.owner, p)
			}
		}
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(r.tb.addr), kgo.ClientID(name),
		kgo.ConsumerGroup(r.group), kgo.ConsumeTopics(r.topic), kgo.Balancers(r.balancer),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second), kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.assigns[name]++
			for _, p := range m[r.topic] {
				if cur, ok := r.owner[p]; ok && cur != name {
					r.overlaps = append(r.overlaps, fmt.Sprintf("partition %d assigned to %s while %s owns it", p, name, cur))
				}
				r.owner[p] = name
			}
		}),
		kgo.OnPartitionsRevoked(release),
		kgo.OnPartitionsLost(release),
	}
	cl, err := kgo.NewClient(append(append(base, r.extra...), opts...)...)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &runMember{cl: cl, cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.members[name] = m
	r.mu.Unlock()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() {
				return
			}
			r.mu.Lock()
			fs.EachRecord(func(rec *kgo.Record) { r.seen[string(rec.Value)]++ })
			r.mu.Unlock()
		}
	}()
	return cl
}

// stop closes a member: it commits and leaves the group (a static member
// does not leave).
func (r *groupRun) stop(name string) {
	r.mu.Lock()
	m := r.members[name]
	delete(r.members, name)
	r.mu.Unlock()
	if m == nil {
		return
	}
	m.cancel()
	<-m.done
	m.cl.Close()
}

// waitSeen waits until every value has been consumed.
func (r *groupRun) waitSeen(values []string) {
	r.t.Helper()
	waitFor(r.t, 30*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		missing := 0
		for _, v := range values {
			if r.seen[v] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d records not consumed yet", missing, len(values))
		}
		return nil
	})
}

func (r *groupRun) checkNoOverlap() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.overlaps) > 0 {
		r.t.Fatalf("partitions owned twice: %v", r.overlaps)
	}
}

// waitSettled waits until DescribeGroups shows the group Stable with n
// members whose assignments cover every partition of the topic once, and
// the lag is zero.
func (r *groupRun) waitSettled(n, partitions int) kadm.DescribedGroup {
	r.t.Helper()
	adm := r.tb.admin(r.t)
	var last kadm.DescribedGroup
	waitFor(r.t, 30*time.Second, func() error {
		ds, err := adm.DescribeGroups(testCtx(r.t), r.group)
		if err != nil {
			return err
		}
		d := ds[r.group]
		last = d
		if d.Err != nil || d.State != "Stable" || len(d.Members) != n {
			return fmt.Errorf("group %s: state %s, %d members, err %v", r.group, d.State, len(d.Members), d.Err)
		}
		owned := map[int32]int{}
		for _, m := range d.Members {
			a, ok := m.Assigned.AsConsumer()
			if !ok {
				return fmt.Errorf("member %s assignment is not a consumer assignment", m.MemberID)
			}
			for _, t := range a.Topics {
				for _, p := range t.Partitions {
					owned[p]++
				}
			}
		}
		for p := 0; p < partitions; p++ {
			if owned[int32(p)] != 1 {
				return fmt.Errorf("partition %d assigned %d times: %v", p, owned[int32(p)], owned)
			}
		}
		lags, err := adm.Lag(testCtx(r.t), r.group)
		if err != nil {
			return err
		}
		gl := lags[r.group]
		if gl.Error() != nil {
			return gl.Error()
		}
		if total := gl.Lag.Total(); total != 0 {
			return fmt.Errorf("lag %d", total)
		}
		return nil
	})
	return last
}

// TestHandlersGroupFranzConsumers runs franz-go consumer groups with an
// eager and a cooperative balancer: members share the partitions with no
// partition owned twice, every record is read, and partitions move when a
// member leaves or joins.
func TestHandlersGroupFranzConsumers(t *testing.T) {
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(bal.name, func(t *testing.T) {
			t.Parallel()
			tb := startBroker(t, groupSets...)
			const partitions = 6
			topic := "consume-" + bal.name
			createTopic(t, tb, topic, partitions, nil)
			r := newGroupRun(t, tb, topic, bal.b)
			values := produceValues(t, tb, topic, "a", 300)
			for _, m := range []string{"m1", "m2", "m3"} {
				r.start(m)
			}
			r.waitSeen(values)
			d := r.waitSettled(3, partitions)
			if d.Protocol != bal.name || d.ProtocolType != "consumer" {
				t.Fatalf("group protocol %q type %q, want %q consumer", d.Protocol, d.ProtocolType, bal.name)
			}
			r.checkNoOverlap()

			// A member leaves: the others take its partitions.
			r.stop("m3")
			more := produceValues(t, tb, topic, "b", 120)
			r.waitSeen(more)
			r.waitSettled(2, partitions)
			r.checkNoOverlap()

			// A member joins and gets a share.
			r.start("m4")
			more = produceValues(t, tb, topic, "c", 120)
			r.waitSeen(more)
			d = r.waitSettled(3, partitions)
			r.checkNoOverlap()
			var names []string
			for _, m := range d.Members {
				names = append(names, m.ClientID)
				if m.ClientHost != "/127.0.0.1" {
					t.Errorf("member %s host %q, want /127.0.0.1", m.MemberID, m.ClientHost)
				}
			}
			sort.Strings(names)
			if strings.Join(names, ",") != "m1,m2,m4" {
				t.Errorf("members %v, want m1 m2 m4", names)
			}
		})
	}
}

// TestHandlersGroupCommitsSurviveRestart: offsets committed by a group and
// the group's membership are in __consumer_offsets; after a broker restart
// a new member of the group reads only what was not committed.
func TestHandlersGroupCommitsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBrokerIn(t, dir, groupSets...)
	createTopic(t, tb, "durable", 3, nil)
	first := produceValues(t, tb, "durable", "first", 90)

	consume := func(tb *testBroker, want int) []string {
		cl := tb.client(t, kgo.ConsumerGroup("durable-group"), kgo.ConsumeTopics("durable"),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(6*time.Second), kgo.FetchMaxWait(200*time.Millisecond))
		var got []string
		ctx := testCtx(t)
		for len(got) < want && ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		cl.Close()
		return got
	}
	if got := consume(tb, len(first)); len(got) != len(first) {
		t.Fatalf("read %d records, want %d", len(got), len(first))
	}
	second := produceValues(t, tb, "durable", "second", 60)
	committed, err := tb.admin(t).FetchOffsets(testCtx(t), "durable-group")
	if err != nil {
		t.Fatal(err)
	}

	tb.stop()
	tb = startBrokerIn(t, dir, groupSets...)
	after, err := tb.admin(t).FetchOffsets(testCtx(t), "durable-group")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range committed.Sorted() {
		a, ok := after.Lookup(o.Topic, o.Partition)
		if !ok || a.At != o.At {
			t.Errorf("offset of %s-%d: %d before the restart, %+v after", o.Topic, o.Partition, o.At, a)
		}
	}
	got := consume(tb, len(second))
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(second, ",") {
		t.Fatalf("after the restart the group read %d records %v…, want exactly the %d uncommitted ones", len(got), got[:min(5, len(got))], len(second))
	}
	ls, err := tb.admin(t).ListGroups(testCtx(t))
	if err != nil || len(ls) != 1 || ls.Sorted()[0].State != "Empty" {
		t.Fatalf("groups after the restart: %+v %v", ls, err)
	}
}

// TestHandlersGroupStaticMember: a franz-go member with an instance id that
// restarts within its session timeout gets its partitions back with no
// rebalance: the generation the other member sees does not change.
func TestHandlersGroupStaticMember(t *testing.T) {
	tb := startBroker(t, groupSets...)
	createTopic(t, tb, "static", 4, nil)
	r := newGroupRun(t, tb, "static", kgo.RangeBalancer())
	other := r.start("other", kgo.InstanceID("other"))
	r.start("restarts", kgo.InstanceID("restarts"))
	values := produceValues(t, tb, "static", "a", 100)
	r.waitSeen(values)
	d := r.waitSettled(2, 4)
	_, gen := other.GroupMetadata()
	oldID := ""
	for _, m := range d.Members {
		if m.InstanceID != nil && *m.InstanceID == "restarts" {
			oldID = m.MemberID
		}
	}
	r.mu.Lock()
	assignsBefore := r.assigns["other"]
	r.mu.Unlock()

	r.stop("restarts") // a static member does not leave
	r.start("restarts", kgo.InstanceID("restarts"))
	more := produceValues(t, tb, "static", "b", 100)
	r.waitSeen(more)
	d = r.waitSettled(2, 4)
	if _, g := other.GroupMetadata(); g != gen {
		t.Fatalf("generation %d after the static restart, was %d: a rebalance happened", g, gen)
	}
	r.mu.Lock()
	assignsAfter := r.assigns["other"]
	r.mu.Unlock()
	if assignsAfter != assignsBefore {
		t.Fatalf("the other member was assigned partitions again (%d → %d calls)", assignsBefore, assignsAfter)
	}
	for _, m := range d.Members {
		if m.InstanceID != nil && *m.InstanceID == "restarts" && m.MemberID == oldID {
			t.Fatalf("the restarted static member kept its old member id %s", oldID)
		}
	}
	r.checkNoOverlap()
}

// TestHandlersGroupAdmin exercises kadm: ListGroups (with state filter),
// DescribeGroups, Lag, CommitOffsets from outside the group, OffsetDelete
// and DeleteGroups with Kafka's refusals for live groups.
func TestHandlersGroupAdmin(t *testing.T) {
	tb := startBroker(t, groupSets...)
	adm := tb.admin(t)
	ctx := testCtx(t)
	createTopic(t, tb, "subscribed", 2, nil)
	createTopic(t, tb, "other", 1, nil)
	values := produceValues(t, tb, "subscribed", "v", 40)
	r := newGroupRun(t, tb, "subscribed", kgo.RangeBalancer())
	r.group = "admin-group"
	r.start("m1")
	r.waitSeen(values)
	r.waitSettled(1, 2)

	// An admin commit to a live group from outside it is refused.
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "other", Partition: 0, At: 0, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "admin-group", os); err != nil || !errors.Is(resp.Error(), kerr.UnknownMemberID) {
		t.Fatalf("admin commit to a live group: %v %v, want UNKNOWN_MEMBER_ID", err, resp.Error())
	}
	// The member commits "other" (it is not subscribed to it) itself.
	cl := r.members["m1"].cl
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = "admin-group"
	req.MemberID, req.Generation = cl.GroupMetadata()
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = "other", topicID(t, cl, "other")
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if resp := request[*kmsg.OffsetCommitResponse](t, cl, req); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("member commit: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}

	// A simple-consumer group made by an admin commit.
	os = kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "subscribed", Partition: 0, At: 7, LeaderEpoch: -1, Metadata: "by admin"})
	if resp, err := adm.CommitOffsets(ctx, "simple-group", os); err != nil || resp.Error() != nil {
		t.Fatalf("admin commit: %v %v", err, resp.Error())
	}

	ls, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ls.Groups(); strings.Join(got, ",") != "admin-group,simple-group" {
		t.Fatalf("ListGroups: %v", got)
	}
	ls, err = adm.ListGroups(ctx, "Empty")
	if err != nil || strings.Join(ls.Groups(), ",") != "simple-group" {
		t.Fatalf("ListGroups(Empty): %v %v", ls.Groups(), err)
	}
	if ls["simple-group"].ProtocolType != "" || ls["simple-group"].State != "Empty" {
		t.Fatalf("simple group listed as %+v", ls["simple-group"])
	}
	fo, err := adm.FetchOffsets(ctx, "simple-group")
	if o, ok := fo.Lookup("subscribed", 0); err != nil || !ok || o.At != 7 || o.Metadata != "by admin" {
		t.Fatalf("FetchOffsets: %+v %v", o, err)
	}
	lag, err := adm.Lag(ctx, "simple-group")
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := lag["simple-group"].Lag.Lookup("subscribed", 0); !ok || l.Lag != l.End.Offset-7 {
		t.Fatalf("lag of the simple group: %+v", l)
	}

	// OffsetDelete: a subscribed topic's offsets cannot go while the
	// group is live; another topic's can.
	del := func(topic string) error {
		s := kadm.TopicsSet{}
		s.Add(topic, 0)
		resp, err := adm.DeleteOffsets(ctx, "admin-group", s)
		if err != nil {
			return err
		}
		return resp.Error()
	}
	if err := del("subscribed"); !errors.Is(err, kerr.GroupSubscribedToTopic) {
		t.Fatalf("OffsetDelete of a subscribed topic: %v", err)
	}
	if err := del("other"); err != nil {
		t.Fatalf("OffsetDelete of an unsubscribed topic: %v", err)
	}
	fo, _ = adm.FetchOffsets(ctx, "admin-group")
	if _, ok := fo.Lookup("other", 0); ok {
		t.Fatalf("deleted offset still fetched: %+v", fo)
	}
	s := kadm.TopicsSet{}
	s.Add("subscribed", 0)
	if resp, err := adm.DeleteOffsets(ctx, "no-such-group", s); err == nil && !errors.Is(resp.Error(), kerr.GroupIDNotFound) {
		t.Fatalf("OffsetDelete of an unknown group: %v", resp.Error())
	}

	// DeleteGroups: live groups refuse, Empty ones go with their offsets.
	dr, err := adm.DeleteGroups(ctx, "admin-group", "no-such-group")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dr["admin-group"].Err, kerr.NonEmptyGroup) || !errors.Is(dr["no-such-group"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteGroups: %+v", dr)
	}
	r.stop("m1")
	waitFor(t, 10*time.Second, func() error {
		ds, err := adm.DescribeGroups(ctx, "admin-group")
		if err != nil || ds["admin-group"].State != "Empty" {
			return fmt.Errorf("state %s %v", ds["admin-group"].State, err)
		}
		return nil
	})
	if err := del("subscribed"); err != nil {
		t.Fatalf("OffsetDelete on the Empty group: %v", err)
	}
	dr, err = adm.DeleteGroups(ctx, "admin-group", "simple-group")
	if err != nil || dr.Error() != nil {
		t.Fatalf("DeleteGroups: %v %+v", err, dr)
	}
	if ls, _ := adm.ListGroups(ctx); len(ls) != 0 {
		t.Fatalf("groups left: %v", ls.Groups())
	}
	fo, _ = adm.FetchOffsets(ctx, "simple-group")
	if len(fo) != 0 {
		t.Fatalf("offsets of a deleted group: %+v", fo)
	}
}

// TestHandlersGroupTopicDeletion: deleting a topic removes the offsets
// committed for it.
func TestHandlersGroupTopicDeletion(t *testing.T) {
	tb := startBroker(t, groupSets...)
	adm := tb.admin(t)
	ctx := testCtx(t)
	createTopic(t, tb, "doomed", 2, nil)
	createTopic(t, tb, "kept", 1, nil)
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "doomed", Partition: 1, At: 3, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "kept", Partition: 0, At: 4, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "g", os); err != nil || resp.Error() != nil {
		t.Fatal(err, resp.Error())
	}
	if _, err := tb.b.DeleteTopic("doomed"); err != nil {
		t.Fatal(err)
	}
	createTopic(t, tb, "doomed", 2, nil) // recreated: must start with nothing committed
	fo, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fo.Lookup("doomed", 1); ok {
		t.Fatalf("offset of a deleted topic survived: %+v", fo)
	}
	if o, ok := fo.Lookup("kept", 0); !ok || o.At != 4 {
		t.Fatalf("offset of another topic: %+v", fo)
	}
}

// TestHandlersGroupWireVersions checks version-specific answers with raw
// requests.
func TestHandlersGroupWireVersions(t *testing.T) {
	tb := startBroker(t, "group.initial.rebalance.delay.ms=0")
	createTopic(t, tb, "wire", 2, nil)
	tid := topicID(t, tb.client(t), "wire")

	t.Run("FindCoordinator", func(t *testing.T) {
		for _, v := range []int16{0, 3} {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.Version, req.CoordinatorKey = v, "wire-group"
			resp := rawRequest(t, tb.addr, req).(*kmsg.FindCoordinatorResponse)
			if resp.ErrorCode != 0 || resp.NodeID != tb.b.NodeID() || fmt.Sprintf("%s:%d", resp.Host, resp.Port) != tb.addr {
				t.Fatalf("v%d: %+v", v, resp)
			}
		}
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorKeys = 4, []string{"a", "b"}
		resp := rawRequest(t, tb.addr, req).(*kmsg.FindCoordinatorResponse)
		if len(resp.Coordinators) != 2 || resp.Coordinators[1].Key != "b" || resp.Coordinators[1].ErrorCode != 0 || resp.Coordinators[1].NodeID != tb.b.NodeID() {
			t.Fatalf("v4 batch: %+v", resp)
		}
		req.CoordinatorType = 1
		resp = rawRequest(t, tb.addr, req).(*kmsg.FindCoordinatorResponse)
		if resp.Coordinators[0].ErrorCode != kerr.CoordinatorNotAvailable.Code {
			t.Fatalf("transactional id: %+v", resp.Coordinators[0])
		}
		req.Version, req.CoordinatorType, req.CoordinatorKey = 2, 1, "txn"
		resp = rawRequest(t, tb.addr, req).(*kmsg.FindCoordinatorResponse)
		if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || resp.NodeID != -1 || resp.ErrorMessage == nil {
			t.Fatalf("v2 transactional id: %+v", resp)
		}
		// The offsets topic now exists, compacted, internal, with
		// offsets.topic.num.partitions partitions.
		top, ok := tb.b.Topic(broker.OffsetsTopic)
		if !ok || len(tb.b.Partitions(top)) != 50 || tb.b.TopicConfig(top).String("cleanup.policy") != "compact" {
			t.Fatalf("offsets topic: %v", ok)
		}
		md := kmsg.NewPtrMetadataRequest()
		name := broker.OffsetsTopic
		md.Topics = []kmsg.MetadataRequestTopic{{Topic: &name}}
		mr := request[*kmsg.MetadataResponse](t, tb.client(t), md)
		if !mr.Topics[0].IsInternal || len(mr.Topics[0].Partitions) != 50 {
			t.Fatalf("metadata of the offsets topic: internal %v, %d partitions", mr.Topics[0].IsInternal, len(mr.Topics[0].Partitions))
		}
	})

	join := func(version int16, group, member string) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version, req.Group, req.MemberID = version, group, member
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = 6000, 10000, "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0}
		req.Protocols = append(req.Protocols, p)
		// The offsets topic was created just before: its partitions'
		// coordinators are elected (their shards loaded) in the
		// background, and a client retries until its group's is, as here
		// (at most 10 s).
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp := rawRequest(t, tb.addr, req).(*kmsg.JoinGroupResponse)
			switch resp.ErrorCode {
			case kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code:
				if time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
					continue
				}
			}
			return resp
		}
	}

	t.Run("JoinGroup", func(t *testing.T) {
		// v3: no MEMBER_ID_REQUIRED; v0 works too.
		for _, v := range []int16{0, 3} {
			resp := join(v, fmt.Sprintf("join-v%d", v), "")
			if resp.ErrorCode != 0 || resp.Generation != 1 || resp.LeaderID != resp.MemberID || len(resp.Members) != 1 || *resp.Protocol != "range" {
				t.Fatalf("v%d: %+v", v, resp)
			}
			if !strings.HasPrefix(resp.MemberID, "kgo-") && !strings.Contains(resp.MemberID, "-") {
				t.Errorf("member id %q is not client id and a uuid", resp.MemberID)
			}
		}
		// v4: the first join gets a member id to join with.
		resp := join(4, "join-v4", "")
		if resp.ErrorCode != kerr.MemberIDRequired.Code || resp.MemberID == "" || resp.Generation != -1 {
			t.Fatalf("v4 first join: %+v", resp)
		}
		resp = join(7, "join-v4", resp.MemberID)
		if resp.ErrorCode != 0 || resp.Generation != 1 || *resp.ProtocolType != "consumer" {
			t.Fatalf("v7 join with the id: %+v", resp)
		}
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version, req.Group, req.SessionTimeoutMillis, req.ProtocolType = 9, "join-v9", 1000, "consumer"
		if r := rawRequest(t, tb.addr, req).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
			t.Fatalf("session timeout below the minimum: %+v", r)
		}
		req.SessionTimeoutMillis, req.Group = 6000, ""
		if r := rawRequest(t, tb.addr, req).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InvalidGroupID.Code {
			t.Fatalf("empty group id: %+v", r)
		}
	})

	t.Run("SyncHeartbeatLeave", func(t *testing.T) {
		j := join(3, "shl", "")
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Version, sync.Group, sync.Generation, sync.MemberID = 5, "shl", j.Generation, j.MemberID
		pt, pn := "consumer", "roundrobin"
		sync.ProtocolType, sync.Protocol = &pt, &pn
		if r := rawRequest(t, tb.addr, sync).(*kmsg.SyncGroupResponse); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
			t.Fatalf("sync with another protocol: %+v", r)
		}
		pn = "range"
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = j.MemberID, []byte("mine")
		sync.GroupAssignment = append(sync.GroupAssignment, a)
		if r := rawRequest(t, tb.addr, sync).(*kmsg.SyncGroupResponse); r.ErrorCode != 0 || string(r.MemberAssignment) != "mine" || *r.Protocol != "range" {
			t.Fatalf("sync: %+v", r)
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Version, hb.Group, hb.Generation, hb.MemberID = 0, "shl", j.Generation+1, j.MemberID
		if r := rawRequest(t, tb.addr, hb).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.IllegalGeneration.Code {
			t.Fatalf("heartbeat of a wrong generation: %+v", r)
		}
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Version, leave.Group, leave.MemberID = 0, "shl", "stranger"
		if r := rawRequest(t, tb.addr, leave).(*kmsg.LeaveGroupResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("v0 leave of a stranger: %+v", r)
		}
		leave.Version = 5
		leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: j.MemberID}, {MemberID: "stranger"}}
		r := rawRequest(t, tb.addr, leave).(*kmsg.LeaveGroupResponse)
		if r.ErrorCode != 0 || len(r.Members) != 2 || r.Members[0].ErrorCode != 0 || r.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("v5 batched leave: %+v", r)
		}
	})

	commit := func(version int16, group string, partition int32, offset int64, md string) *kmsg.OffsetCommitResponse {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group = version, group
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = "wire", tid
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = partition, offset, &md
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rawRequest(t, tb.addr, req).(*kmsg.OffsetCommitResponse)
	}

	t.Run("OffsetCommitFetch", func(t *testing.T) {
		for _, v := range []int16{0, 2, 9, 10} {
			r := commit(v, "offsets", 0, int64(100+v), fmt.Sprintf("v%d", v))
			if r.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("commit v%d: %v", v, kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
			}
			if v >= 10 && r.Topics[0].TopicID != tid {
				t.Fatalf("v10 answer names the topic by id: %+v", r.Topics[0])
			}
		}
		if r := commit(8, "offsets", 7, 1, ""); r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("commit of an unknown partition: %+v", r)
		}
		if r := commit(8, "offsets", 1, 1, strings.Repeat("x", 4097)); r.Topics[0].Partitions[0].ErrorCode != kerr.OffsetMetadataTooLarge.Code {
			t.Fatalf("commit with metadata too large: %+v", r)
		}
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group = 10, "offsets"
		req.Topics = []kmsg.OffsetCommitRequestTopic{{TopicID: [16]byte{1}, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0}}}}
		if r := rawRequest(t, tb.addr, req).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
			t.Fatalf("v10 commit of an unknown topic id: %+v", r)
		}

		// v1: partitions listed, offset -1 where nothing is committed.
		f1 := kmsg.NewPtrOffsetFetchRequest()
		f1.Version, f1.Group = 1, "offsets"
		f1.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "wire", Partitions: []int32{0, 1}}}
		r1 := rawRequest(t, tb.addr, f1).(*kmsg.OffsetFetchResponse)
		if p := r1.Topics[0].Partitions; p[0].Offset != 110 || *p[0].Metadata != "v10" || p[1].Offset != -1 {
			t.Fatalf("v1 fetch: %+v", r1.Topics)
		}
		// v7 with null topics: everything committed.
		f1.Version, f1.Topics, f1.RequireStable = 7, nil, true
		r7 := rawRequest(t, tb.addr, f1).(*kmsg.OffsetFetchResponse)
		if r7.ErrorCode != 0 || len(r7.Topics) != 1 || len(r7.Topics[0].Partitions) != 1 || r7.Topics[0].Partitions[0].Offset != 110 {
			t.Fatalf("v7 fetch of all: %+v", r7)
		}
		// v8: several groups; v10: by topic id.
		for _, v := range []int16{8, 10} {
			f := kmsg.NewPtrOffsetFetchRequest()
			f.Version = v
			f.Groups = []kmsg.OffsetFetchRequestGroup{
				{Group: "offsets", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "wire", TopicID: tid, Partitions: []int32{0}}}},
				{Group: "nobody"},
			}
			r := rawRequest(t, tb.addr, f).(*kmsg.OffsetFetchResponse)
			if len(r.Groups) != 2 || r.Groups[0].Topics[0].Partitions[0].Offset != 110 || len(r.Groups[1].Topics) != 0 {
				t.Fatalf("v%d fetch: %+v", v, r.Groups)
			}
			if v == 10 && r.Groups[0].Topics[0].TopicID != tid {
				t.Fatalf("v10 fetch names the topic by id: %+v", r.Groups[0].Topics[0])
			}
		}
	})

	t.Run("DescribeListDelete", func(t *testing.T) {
		d := kmsg.NewPtrDescribeGroupsRequest()
		d.Version, d.Groups, d.IncludeAuthorizedOperations = 5, []string{"offsets", "unknown"}, true
		r := rawRequest(t, tb.addr, d).(*kmsg.DescribeGroupsResponse)
		if r.Groups[0].State != "Empty" || r.Groups[0].ErrorCode != 0 || r.Groups[1].State != "Dead" || r.Groups[1].ErrorCode != 0 {
			t.Fatalf("v5 describe: %+v", r.Groups)
		}
		if r.Groups[0].AuthorizedOperations == -2147483648 {
			t.Fatalf("authorized operations not given: %+v", r.Groups[0])
		}
		d.Version = 6
		r = rawRequest(t, tb.addr, d).(*kmsg.DescribeGroupsResponse)
		if r.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code || r.Groups[1].ErrorMessage == nil {
			t.Fatalf("v6 describe of an unknown group: %+v", r.Groups[1])
		}
		l := kmsg.NewPtrListGroupsRequest()
		l.Version, l.StatesFilter = 4, []string{"empty"}
		lr := rawRequest(t, tb.addr, l).(*kmsg.ListGroupsResponse)
		var names []string
		for _, g := range lr.Groups {
			names = append(names, g.Group+"/"+g.GroupState)
		}
		sort.Strings(names)
		if !strings.Contains(strings.Join(names, ","), "offsets/Empty") {
			t.Fatalf("v4 list of Empty groups: %v", names)
		}
		l.Version, l.StatesFilter, l.TypesFilter = 5, nil, []string{"consumer"}
		if lr = rawRequest(t, tb.addr, l).(*kmsg.ListGroupsResponse); len(lr.Groups) != 0 {
			t.Fatalf("v5 list of KIP-848 groups: %+v", lr.Groups)
		}
		l.TypesFilter = []string{"classic"}
		if lr = rawRequest(t, tb.addr, l).(*kmsg.ListGroupsResponse); len(lr.Groups) == 0 || lr.Groups[0].GroupType != "classic" {
			t.Fatalf("v5 list of classic groups: %+v", lr.Groups)
		}
		del := kmsg.NewPtrDeleteGroupsRequest()
		del.Version, del.Groups = 2, []string{"offsets", "offsets", "unknown"}
		dr := rawRequest(t, tb.addr, del).(*kmsg.DeleteGroupsResponse)
		if len(dr.Groups) != 2 || dr.Groups[0].ErrorCode != 0 || dr.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("delete: %+v", dr.Groups)
		}
		od := kmsg.NewPtrOffsetDeleteRequest()
		od.Group = "offsets"
		od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "wire", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
		if r := rawRequest(t, tb.addr, od).(*kmsg.OffsetDeleteResponse); r.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("OffsetDelete of a deleted group: %+v", r)
		}
	})
}
