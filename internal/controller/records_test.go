package controller

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// testLog is a metadata log exercising every record type, partly written by
// the decision functions the way the quorum leader writes it.
func testLog(t testing.TB) [][]Record {
	t.Helper()
	log := [][]Record{
		{{Type: RecClusterID, ClusterID: "cluster-1"}, regRec(1, "a"), regRec(2, "b"), regRec(3, "c")},
		{{Type: RecProducerIDs, NextProducerID: 1000}},
		{{Type: RecBrokerConfig, Configs: map[string]string{"log.retention.ms": "1000"}}},
	}
	img := NewImage()
	replay := func(e []Record) {
		var skipped []error
		img, skipped = img.Apply(img.Offset+1, e)
		if len(skipped) > 0 {
			t.Fatalf("entry %d: %v", len(log), skipped)
		}
		log = append(log, e)
	}
	for _, e := range log {
		img, _ = img.Apply(img.Offset+1, e)
	}
	for _, name := range []string{"b-topic", "a-topic", "c-topic"} {
		a, err := Assign(img, 4, 3, img.PartitionCount())
		if err != nil {
			t.Fatal(err)
		}
		replay([]Record{{Type: RecCreateTopic, Topic: &Topic{Name: name, ID: topicID(name), Configs: map[string]string{"cleanup.policy": "compact"}, Partitions: NewPartitions(a)}}})
	}
	replay(FenceBroker(img, 2, false, cleanOnly))
	p := img.Topics["a-topic"].Partitions[1]
	rec, _, err := AlterISR(img, p.Leader, img.Brokers[p.Leader].Epoch, "a-topic", 1, p.LeaderEpoch, p.PartitionEpoch, ids(p.Leader))
	if err != nil || rec == nil {
		t.Fatalf("AlterISR: %v %v", rec, err)
	}
	replay([]Record{*rec})
	replay(UnfenceBroker(img, 2, cleanOnly))
	replay(PreferredElections(img, nil))
	replay([]Record{{Type: RecTopicConfig, TopicName: "c-topic", Configs: map[string]string{"retention.ms": "5"}}})
	a, err := Assign(img, 2, 2, img.PartitionCount())
	if err != nil {
		t.Fatal(err)
	}
	replay([]Record{{Type: RecAddPartitions, TopicName: "a-topic", Partitions: NewPartitions(a)}})
	replay(FenceBroker(img, 3, true, uncleanOnly))
	replay([]Record{{Type: RecDeleteTopic, TopicName: "b-topic"}, {Type: RecProducerIDs, NextProducerID: 2000}})
	return log
}

func TestControllerApplyDeterministic(t *testing.T) {
	log := testLog(t)
	// Map iteration order differs from run to run: replay a few times.
	var first [][]byte
	for run := range 5 {
		img := NewImage()
		for i, e := range log {
			var skipped []error
			img, skipped = img.Apply(uint64(i+1), e)
			if len(skipped) > 0 {
				t.Fatalf("run %d entry %d: %v", run, i, skipped)
			}
			s := snapshot(t, img)
			if run == 0 {
				first = append(first, s)
			} else if !bytes.Equal(s, first[i]) {
				t.Fatalf("run %d entry %d: image differs:\n%s\n%s", run, i, s, first[i])
			}
			if !bytes.Equal(s, snapshot(t, img)) {
				t.Fatalf("entry %d: two encodings of one image differ", i)
			}
		}
	}
}

func TestControllerApplyCopyOnWrite(t *testing.T) {
	base := build(t, concat(regRecs(3), []Record{
		topicRec("t", part(1, ids(1, 2, 3), ids(1, 2, 3)), part(2, ids(2, 3, 1), ids(2, 3))),
		{Type: RecTopicConfig, TopicName: "t", Configs: map[string]string{"retention.ms": "1"}},
		{Type: RecBrokerConfig, Configs: map[string]string{"log.retention.ms": "1"}},
		{Type: RecProducerIDs, NextProducerID: 10},
	})...)
	tests := []struct {
		name string
		rec  Record
		// mutate changes what the record points to after Apply: the new
		// image must not share it.
		mutate func(r *Record)
	}{
		{"register new", regRec(4, "r"), func(r *Record) { r.Broker.Host = "x" }},
		{"register again", regRec(1, "r"), func(r *Record) { r.Broker.Port = 1 }},
		{"fence", fenceRec(1), nil},
		{"shutdown", shutdownRec(2), nil},
		{"unfence", Record{Type: RecUnfenceBroker, BrokerID: 3}, nil},
		{"create topic", topicRec("u", part(1, ids(1, 2), ids(1, 2))), func(r *Record) {
			r.Topic.Partitions[0].ISR[0] = 9
			r.Topic.Partitions[0].Replicas[1] = 9
		}},
		{"delete topic", Record{Type: RecDeleteTopic, TopicName: "t"}, nil},
		{"add partitions", Record{Type: RecAddPartitions, TopicName: "t", Partitions: []Partition{part(3, ids(3, 1), ids(3, 1))}}, func(r *Record) {
			r.Partitions[0].ISR[0] = 9
		}},
		{"partition change", Record{Type: RecPartitionChange, TopicName: "t", Partition: 1, State: &Partition{Replicas: ids(2, 3, 1), ISR: ids(2), Leader: 2, PartitionEpoch: 8}}, func(r *Record) {
			r.State.ISR[0] = 9
			r.State.Leader = 9
		}},
		{"topic config", Record{Type: RecTopicConfig, TopicName: "t", Configs: map[string]string{"retention.ms": "2"}}, func(r *Record) { r.Configs["retention.ms"] = "9" }},
		{"broker config", Record{Type: RecBrokerConfig, Configs: map[string]string{"a": "b"}}, func(r *Record) { r.Configs["a"] = "9" }},
		{"producer ids", Record{Type: RecProducerIDs, NextProducerID: 20}, nil},
		{"cluster id", Record{Type: RecClusterID, ClusterID: "c"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, base)
			next := applyAll(t, base, []Record{tc.rec})
			if after := snapshot(t, base); !bytes.Equal(before, after) {
				t.Fatalf("Apply changed the old image:\n%s\n%s", before, after)
			}
			if _, ok := base.TopicByID(topicID("t")); !ok {
				t.Fatal("old image lost topic t by id")
			}
			applied := snapshot(t, next)
			if bytes.Equal(applied, before) {
				t.Fatal("the record changed nothing")
			}
			if tc.mutate != nil {
				tc.mutate(&tc.rec)
				if got := snapshot(t, next); !bytes.Equal(got, applied) {
					t.Fatalf("the new image shares memory with the record:\n%s\n%s", applied, got)
				}
			}
		})
	}
}

// TestControllerApplyConcurrentReaders reads an image from other goroutines
// while newer images are built from it: with -race, any write Apply makes
// to a published image shows.
func TestControllerApplyConcurrentReaders(t *testing.T) {
	log := testLog(t)
	img := NewImage()
	for _, e := range log[:len(log)/2] {
		img = applyAll(t, img, e)
	}
	want := snapshot(t, img)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			for range 20 {
				s, err := EncodeSnapshot(img)
				if err != nil || !bytes.Equal(s, want) {
					errs <- errors.New("image changed under a reader")
					return
				}
				_ = LeaderCount(img)
				_ = img.LiveBrokers()
			}
		})
	}
	next := img
	for range 20 {
		for _, e := range log[len(log)/2:] {
			next, _ = next.Apply(next.Offset+1, e)
		}
		next = img
		for _, e := range log[len(log)/2:] {
			next, _ = next.Apply(next.Offset+1, e)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestControllerApplySkipped(t *testing.T) {
	base := build(t, concat(regRecs(2), []Record{
		topicRec("t", part(1, ids(1, 2), ids(1, 2))),
		{Type: RecProducerIDs, NextProducerID: 100},
		{Type: RecClusterID, ClusterID: "first"},
	})...)
	valid1 := Record{Type: RecTopicConfig, TopicName: "t", Configs: map[string]string{"k": "v"}}
	valid2 := fenceRec(2)
	tests := []struct {
		name string
		bad  Record
		want string
	}{
		{"change of unknown topic", Record{Type: RecPartitionChange, TopicName: "nope", State: &Partition{Leader: 1}}, `unknown topic "nope"`},
		{"negative partition index", Record{Type: RecPartitionChange, TopicName: "t", Partition: -1, State: &Partition{Leader: 1}}, "bad partition change"},
		{"partition index past the end", Record{Type: RecPartitionChange, TopicName: "t", Partition: 1, State: &Partition{Leader: 1}}, "bad partition change"},
		{"change without state", Record{Type: RecPartitionChange, TopicName: "t"}, "bad partition change"},
		{"partitions for unknown topic", Record{Type: RecAddPartitions, TopicName: "nope", Partitions: []Partition{part(1, ids(1), ids(1))}}, "unknown topic"},
		{"config of unknown topic", Record{Type: RecTopicConfig, TopicName: "nope"}, "unknown topic"},
		{"delete unknown topic", Record{Type: RecDeleteTopic, TopicName: "nope"}, "unknown topic"},
		{"create existing topic", topicRec("t"), `topic "t" exists`},
		{"create without topic", Record{Type: RecCreateTopic}, "no topic"},
		{"register without broker", Record{Type: RecRegisterBroker}, "no broker"},
		{"fence unknown broker", fenceRec(7), "unknown broker 7"},
		{"unfence unknown broker", Record{Type: RecUnfenceBroker, BrokerID: 7}, "unknown broker 7"},
		{"producer ids moving back", Record{Type: RecProducerIDs, NextProducerID: 99}, "producer ids would move back from 100 to 99"},
		{"unknown record type", Record{Type: "bogus"}, `unknown record type "bogus"`},
		{"second cluster id", Record{Type: RecClusterID, ClusterID: "other"}, "cluster id is first already"},
	}
	want := applyAll(t, base, []Record{valid1, valid2})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := base.Apply(base.Offset+1, []Record{valid1, tc.bad, valid2})
			if len(skipped) != 1 {
				t.Fatalf("skipped %v, want one", skipped)
			}
			if msg := skipped[0].Error(); !strings.HasPrefix(msg, string(tc.bad.Type)+": ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("skipped %q, want %s: ...%s...", msg, tc.bad.Type, tc.want)
			}
			// The rest of the entry applies as if the bad record were not there.
			sameSnapshot(t, "entry with a skipped record", got, want)
		})
	}
	t.Run("producer ids may stay", func(t *testing.T) {
		if _, skipped := base.Apply(base.Offset+1, []Record{{Type: RecProducerIDs, NextProducerID: 100}}); len(skipped) > 0 {
			t.Fatal(skipped)
		}
	})
}

func TestControllerApplyBrokerEpochIsOffset(t *testing.T) {
	img := build(t, regRecs(2)...)
	img = applyAll(t, img, []Record{fenceRec(1), shutdownRec(2)})
	next, _ := img.Apply(42, []Record{regRec(1, "r")})
	b := next.Brokers[1]
	if b.Epoch != 42 || b.Fenced || b.Rack != "r" || next.Offset != 42 {
		t.Fatalf("re-registered broker %+v at offset %d, want epoch 42 unfenced", b, next.Offset)
	}
	next = applyAll(t, next, []Record{{Type: RecUnfenceBroker, BrokerID: 2}})
	if b := next.Brokers[2]; b.Fenced || b.ShuttingDown || !next.Live(2) {
		t.Fatalf("unfenced broker %+v is not live", b)
	}
}

func TestControllerEntryRoundTrip(t *testing.T) {
	for i, e := range testLog(t) {
		data, err := EncodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeEntry(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("entry %d: decoded %+v, want %+v", i, got, e)
		}
	}
	for _, bad := range []string{"", "{", `{"type":"fenceBroker"}`, `[{"brokerId":"x"}]`, `[1]`} {
		if _, err := DecodeEntry([]byte(bad)); !errors.Is(err, ErrCorruptEntry) {
			t.Errorf("DecodeEntry(%q) = %v, want ErrCorruptEntry", bad, err)
		}
	}
}

func TestControllerSnapshotRoundTrip(t *testing.T) {
	img := NewImage()
	for _, e := range testLog(t) {
		img = applyAll(t, img, e)
	}
	for name, img := range map[string]*Image{"empty": NewImage(), "log": img} {
		t.Run(name, func(t *testing.T) {
			data := snapshot(t, img)
			got, err := DecodeSnapshot(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, img) {
				t.Fatalf("decoded %+v\nwant %+v", got, img)
			}
			if again := snapshot(t, got); !bytes.Equal(again, data) {
				t.Fatalf("re-encoded snapshot differs:\n%s\n%s", again, data)
			}
			for _, n := range img.TopicNames() {
				if tp, ok := got.TopicByID(topicID(n)); !ok || tp.Name != n {
					t.Fatalf("TopicByID(%s) = %v, %v", n, tp, ok)
				}
			}
			if _, ok := got.TopicByID(topicID("b-topic")); ok {
				t.Fatal("deleted topic found by id")
			}
			// The decoded image takes records like the original.
			rec := topicRec("new", part(1, ids(1), ids(1)))
			sameSnapshot(t, "after a record", applyAll(t, got, []Record{rec}), applyAll(t, img, []Record{rec}))
		})
	}
	for _, bad := range []string{"", "[]", `{"brokers":[]}`, `{"offset":-1}`, `{"topics":{"t":{"id":"x"}}}`,
		`{"brokers":{"1":null}}`, `{"topics":{"t":null}}`, `{"brokers":{"1":{"id":2}}}`, `{"topics":{"t":{"name":"u"}}}`} {
		if _, err := DecodeSnapshot([]byte(bad)); !errors.Is(err, ErrCorruptEntry) {
			t.Errorf("DecodeSnapshot(%q) = %v, want ErrCorruptEntry", bad, err)
		}
	}
}
