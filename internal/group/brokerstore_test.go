package group

import (
	"testing"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
)

// TestGroupBrokerStore runs the coordinator on a real broker's
// __consumer_offsets: the topic is created compacted with
// offsets.topic.num.partitions partitions, commits and group metadata
// survive a broker restart, and deleting a topic drops its offsets.
func TestGroupBrokerStore(t *testing.T) {
	dir := t.TempDir()
	open := func() (*broker.Broker, *Coordinator) {
		cfg, err := config.Load(config.LoadOptions{Sets: []string{"log.dirs=" + dir, "offsets.topic.num.partitions=5", "group.initial.rebalance.delay.ms=0"}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := broker.Open(cfg, broker.Options{Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		c := NewForBroker(b, discard)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return b, c
	}
	b, c := open()
	if _, ok := b.Topic(broker.OffsetsTopic); ok {
		t.Fatal("the offsets topic exists before any group needs it")
	}
	for _, topic := range []string{"kept", "doomed"} {
		if _, _, err := b.CreateTopic(broker.TopicSpec{Name: topic, Partitions: 1, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		}
	}
	f := c.JoinGroup(joinReq("g", "", "kept"))
	r := done(t, f)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	s := done(t, c.SyncGroup(SyncRequest{Group: "g", Generation: r.Generation, MemberID: r.MemberID, Assignments: map[string][]byte{r.MemberID: []byte("x")}}))
	if s.Err != nil {
		t.Fatal(s.Err)
	}
	for _, err := range c.CommitOffsets(commit("g", r.Generation, r.MemberID, at("kept", 0, 11), at("doomed", 0, 12))) {
		if err != nil {
			t.Fatal(err)
		}
	}
	top, ok := b.Topic(broker.OffsetsTopic)
	if !ok || len(b.Partitions(top)) != 5 || b.TopicConfig(top).String("cleanup.policy") != "compact" {
		t.Fatalf("offsets topic: exists %v, config %v", ok, b.TopicConfig(top).Overrides())
	}
	if _, err := b.DeleteTopic("doomed"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b, c = open()
	defer b.Close()
	defer c.Close()
	d := c.DescribeGroup("g")
	if d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != r.MemberID || string(d.Members[0].Assignment) != "x" {
		t.Fatalf("after restart: %+v", d)
	}
	fos, err := c.FetchOffsets("g", nil, true)
	if err != nil || len(fos) != 1 || fos[0].Topic != "kept" || fos[0].Offset != 11 {
		t.Fatalf("offsets after restart: %+v %v", fos, err)
	}
	wantErr(t, "heartbeat after restart", c.Heartbeat("g", r.MemberID, nil, r.Generation), nil)
}
