package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestE2EGroupsAdmin drives the group admin APIs through kadm against the
// binary while a franz-go member runs: ListGroups (with the state filter),
// DescribeGroups, Lag, OffsetDelete and DeleteGroups, including Kafka's
// refusals for a live group; then commits survive a SIGKILL of the broker.
func TestE2EGroupsAdmin(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withSet("group.initial.rebalance.delay.ms=0"))
	ctx := testContext(t, 3*time.Minute)
	adm := newAdmin(t, b.Addr)
	topic := topicName(t, "")
	other := topicName(t, "other")
	createTopic(t, ctx, adm, topic, 3, nil)
	createTopic(t, ctx, adm, other, 1, nil)
	w := newGroupWatch(t, b, "admin-group", topic)
	w.startGo("m1", "franz", "range", "")
	w.waitSeen(w.produce(ctx, "a", 60), 30*time.Second)
	d := w.waitSettled(ctx, adm, 3, "m1")
	if d.Protocol != "range" || d.ProtocolType != "consumer" || d.Members[0].ClientHost != "/127.0.0.1" {
		t.Fatalf("DescribeGroups: protocol %q type %q host %q", d.Protocol, d.ProtocolType, d.Members[0].ClientHost)
	}

	groupStates := func(states ...string) string {
		t.Helper()
		ls, err := adm.ListGroups(ctx, states...)
		if err != nil {
			t.Fatalf("ListGroups(%v): %v", states, err)
		}
		var out []string
		for _, g := range ls.Sorted() {
			out = append(out, g.Group+"="+g.State+"/"+g.ProtocolType)
		}
		return strings.Join(out, ",")
	}
	if got := groupStates(); got != "admin-group=Stable/consumer" {
		t.Fatalf("ListGroups: %s", got)
	}
	if got := groupStates("Empty"); got != "" {
		t.Fatalf("ListGroups(Empty) with a live group: %s", got)
	}

	// A live group refuses commits from outside it, deleting offsets of a
	// topic it consumes, and being deleted.
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: other, Partition: 0, At: 0, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "admin-group", os); err != nil || !errors.Is(resp.Error(), kerr.UnknownMemberID) {
		t.Fatalf("admin commit to a live group: %v / %v, want UNKNOWN_MEMBER_ID", err, resp.Error())
	}
	deleteOffset := func(group, topic string, p int32) error {
		s := kadm.TopicsSet{}
		s.Add(topic, p)
		resp, err := adm.DeleteOffsets(ctx, group, s)
		if err != nil {
			return err
		}
		return resp.Error()
	}
	if err := deleteOffset("admin-group", topic, 0); !errors.Is(err, kerr.GroupSubscribedToTopic) {
		t.Fatalf("OffsetDelete of a consumed topic: %v, want GROUP_SUBSCRIBED_TO_TOPIC", err)
	}
	if dr, err := adm.DeleteGroups(ctx, "admin-group"); err != nil || !errors.Is(dr["admin-group"].Err, kerr.NonEmptyGroup) {
		t.Fatalf("DeleteGroups of a live group: %v / %+v, want NON_EMPTY_GROUP", err, dr)
	}

	// The member leaves; records produced since show as lag.
	w.stop("m1")
	checkFor(t, 10*time.Second, func() error {
		if got := groupStates("Empty"); got != "admin-group=Empty/consumer" {
			return fmt.Errorf("ListGroups(Empty): %q", got)
		}
		return nil
	})
	w.produce(ctx, "b", 30)
	lags, err := adm.Lag(ctx, "admin-group")
	if err != nil {
		t.Fatalf("Lag: %v", err)
	}
	gl := lags["admin-group"]
	if err := gl.Error(); err != nil {
		t.Fatalf("Lag: %v", err)
	}
	if total := gl.Lag.Total(); total != 30 {
		t.Fatalf("lag %d after 30 unread records, want 30", total)
	}

	// Empty now: its offsets can go, then the group itself.
	if err := deleteOffset("admin-group", topic, 0); err != nil {
		t.Fatalf("OffsetDelete on the Empty group: %v", err)
	}
	fo, err := adm.FetchOffsets(ctx, "admin-group")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fo.Lookup(topic, 0); ok {
		t.Fatalf("offset of partition 0 still committed: %+v", fo)
	}
	if _, ok := fo.Lookup(topic, 1); !ok {
		t.Fatalf("offset of partition 1 gone too: %+v", fo)
	}
	if dr, err := adm.DeleteGroups(ctx, "admin-group", "no-such-group"); err != nil || dr["admin-group"].Err != nil || !errors.Is(dr["no-such-group"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteGroups: %v / %+v", err, dr)
	}
	if got := groupStates(); got != "" {
		t.Fatalf("groups after DeleteGroups: %s", got)
	}
	if fo, _ := adm.FetchOffsets(ctx, "admin-group"); len(fo) != 0 {
		t.Fatalf("offsets of a deleted group: %+v", fo)
	}

	// Commits acknowledged before a SIGKILL of the broker are there after
	// it restarts.
	os = kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 2, At: 17, LeaderEpoch: -1, Metadata: "before the kill"})
	os.Add(kadm.Offset{Topic: other, Partition: 0, At: 0, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "simple-group", os); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v / %v", err, resp.Error())
	}
	b.Kill()
	b = b.restart(t, withSet("group.initial.rebalance.delay.ms=0"))
	adm = newAdmin(t, b.Addr)
	fo, err = adm.FetchOffsets(ctx, "simple-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fo.Lookup(topic, 2); !ok || o.At != 17 || o.Metadata != "before the kill" {
		t.Fatalf("after SIGKILL and restart: %+v", fo)
	}
	if got := groupStates(); got != "simple-group=Empty/" {
		t.Fatalf("groups after the restart: %s", got)
	}
	b.assertRunning(t)
}

// TestE2EGroupsStaticMembers restarts a static member (group.instance.id)
// within its session timeout: it gets its partitions back under a new member
// id with no rebalance, so the other member sees nothing happen.
func TestE2EGroupsStaticMembers(t *testing.T) {
	t.Parallel()
	clients := []struct {
		name  string
		start func(w *groupWatch, name string)
	}{
		{"franz", func(w *groupWatch, name string) { w.startGo(name, "franz", "range", name) }},
		{"sarama", func(w *groupWatch, name string) { w.startGo(name, "sarama", "range", name) }},
		{"confluent", func(w *groupWatch, name string) {
			requirePythonModule(w.t, "confluent_kafka", "python3-confluent-kafka")
			w.startConfluent(name, "range", name)
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, withSet("group.initial.rebalance.delay.ms=0"))
			ctx := testContext(t, 2*time.Minute)
			adm := newAdmin(t, b.Addr)
			topic := topicName(t, "")
			createTopic(t, ctx, adm, topic, 4, nil)
			w := newGroupWatch(t, b, "static-"+c.name, topic)
			c.start(w, "s1")
			c.start(w, "s2")
			w.waitSeen(w.produce(ctx, "a", 80), 30*time.Second)
			before := w.waitSettled(ctx, adm, 4, "s1", "s2")
			w.mu.Lock()
			s1Assigns, s2Gen := w.assigned["s1"], w.gen["s2"]
			w.mu.Unlock()

			w.stop("s2") // a static member does not leave the group
			c.start(w, "s2")
			w.waitSeen(w.produce(ctx, "b", 80), 30*time.Second)
			after := w.waitSettled(ctx, adm, 4, "s1", "s2")
			w.mu.Lock()
			s1After, s2GenAfter := w.assigned["s1"], w.gen["s2"]
			w.mu.Unlock()
			if s1After != s1Assigns {
				t.Fatalf("s1 was assigned partitions again (%d → %d reports): the static restart rebalanced", s1Assigns, s1After)
			}
			if c.name != "confluent" && s2GenAfter != s2Gen {
				t.Fatalf("s2 rejoined in generation %d, was %d", s2GenAfter, s2Gen)
			}
			memberOf := func(d kadm.DescribedGroup, instance string) (id string, parts []int32) {
				for _, m := range d.Members {
					if m.InstanceID != nil && *m.InstanceID == instance {
						a, _ := m.Assigned.AsConsumer()
						for _, t := range a.Topics {
							parts = append(parts, t.Partitions...)
						}
						return m.MemberID, parts
					}
				}
				return "", nil
			}
			oldID, oldParts := memberOf(before, "s2")
			newID, newParts := memberOf(after, "s2")
			if newID == "" || newID == oldID || fmt.Sprint(newParts) != fmt.Sprint(oldParts) {
				t.Fatalf("s2 before the restart %s %v, after %s %v: want a new member id with the same partitions", oldID, oldParts, newID, newParts)
			}
			w.checkOwnership()
		})
	}
}
