package controller

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fuzzImage is a small cluster for decoded entries to apply to: brokers 1-4
// (2 fenced, 3 shutting down, 4 on a rack) and two topics.
func fuzzImage(t testing.TB) *Image {
	t.Helper()
	return build(t, concat(regRecs(3), []Record{
		regRec(4, "r"), fenceRec(2), shutdownRec(3),
		topicRec("t", part(1, ids(1, 2, 3), ids(1, 2, 3)), part(-1, ids(2, 1), ids(2)), part(4, ids(1, 4), ids(4))),
		topicRec("u", part(4, ids(4), ids(4))),
		{Type: RecTopicConfig, TopicName: "u", Configs: map[string]string{"unclean.leader.election.enable": "true"}},
	})...)
}

// fuzzSeeds are the checked-in starting points of the fuzz targets.
func fuzzSeeds(t testing.TB) map[string][][]byte {
	t.Helper()
	var entries, snapshots [][]byte
	add := func(recs []Record) {
		b, err := EncodeEntry(recs)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, b)
	}
	base := fuzzImage(t)
	add(FenceBroker(base, 1, false, uncleanOnly))
	add(UnfenceBroker(base, 2, uncleanOnly))
	add(PreferredElections(base, nil))
	a, err := Assign(base, 2, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	add([]Record{{Type: RecAddPartitions, TopicName: "t", Partitions: NewPartitions(a)}, {Type: RecDeleteTopic, TopicName: "u"}})
	add([]Record{regRec(5, "s"), {Type: RecClusterID, ClusterID: "c"}, {Type: RecProducerIDs, NextProducerID: 7}, {Type: RecBrokerConfig, Configs: map[string]string{"a": "b"}}})
	// Records that do not apply: a bad index, a missing state, a replica-less
	// partition, an unknown type.
	entries = append(entries,
		[]byte(`[{"type":"partitionChange","topicName":"t","partition":3,"state":{"replicas":[1],"isr":[1],"leader":1}},{"type":"partitionChange","topicName":"t"}]`),
		[]byte(`[{"type":"addPartitions","topicName":"t","partitions":[{}]},{"type":"createTopic","topic":{"name":"v","partitions":[{"leader":9}]}}]`),
		[]byte(`[{"type":"nope"},null,{}]`),
	)
	log := testLog(t)
	img := NewImage()
	snapshots = append(snapshots, snapshot(t, img), snapshot(t, base))
	for i, e := range log {
		img = applyAll(t, img, e)
		if i == len(log)/2 {
			snapshots = append(snapshots, snapshot(t, img))
		}
	}
	snapshots = append(snapshots, snapshot(t, img),
		[]byte(`{"brokers":{"1":null},"topics":{"t":null}}`),
		[]byte(`{"brokers":{"1":{"id":2}},"topics":{"t":{"name":"u","partitions":[{"replicas":[],"isr":null,"leader":7}]}}}`),
	)
	return map[string][][]byte{"FuzzControllerDecodeEntry": entries, "FuzzControllerDecodeSnapshot": snapshots}
}

// TestControllerFuzzSeeds writes the seed corpora when
// GREGOR_WRITE_FUZZ_SEEDS=1 and otherwise checks they are checked in.
func TestControllerFuzzSeeds(t *testing.T) {
	for target, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if os.Getenv("GREGOR_WRITE_FUZZ_SEEDS") != "1" {
			if entries, err := os.ReadDir(dir); err != nil || len(entries) < len(seeds) {
				t.Fatalf("seed corpus %s has %d files (%v); regenerate with GREGOR_WRITE_FUZZ_SEEDS=1", dir, len(entries), err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzControllerDecodeEntry decodes arbitrary log entries and applies them:
// nothing may panic, Apply stays deterministic and copy-on-write, and the
// decisions taken on the result write records that apply.
func FuzzControllerDecodeEntry(f *testing.F) {
	for _, s := range fuzzSeeds(f)["FuzzControllerDecodeEntry"] {
		f.Add(s)
	}
	base := fuzzImage(f)
	before := snapshot(f, base)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := DecodeEntry(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v is not ErrCorruptEntry", err)
			}
			return
		}
		next, _ := base.Apply(base.Offset+1, recs)
		again, _ := base.Apply(base.Offset+1, recs)
		sameSnapshot(t, "the same entry applied twice", next, again)
		if !bytes.Equal(before, snapshot(t, base)) {
			t.Fatal("Apply changed the image it started from")
		}
		exercise(t, next)
	})
}

// FuzzControllerDecodeSnapshot decodes arbitrary snapshots: nothing may
// panic, a decoded image encodes back to itself, and it takes records and
// decisions like any other.
func FuzzControllerDecodeSnapshot(f *testing.F) {
	for _, s := range fuzzSeeds(f)["FuzzControllerDecodeSnapshot"] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeSnapshot(data)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v is not ErrCorruptEntry", err)
			}
			return
		}
		exercise(t, img)
		next, _ := img.Apply(img.Offset+1, concat(regRecs(2), []Record{fenceRec(1), topicRec("fuzz-new", part(2, ids(2), ids(2)))}))
		exercise(t, next)
	})
}

// exercise runs everything that reads an image over img and checks the
// records the decisions write apply without a skip.
func exercise(t *testing.T, img *Image) {
	t.Helper()
	data := snapshot(t, img)
	back, err := DecodeSnapshot(data)
	if err != nil {
		t.Fatalf("own snapshot does not decode: %v\n%s", err, data)
	}
	if again := snapshot(t, back); !bytes.Equal(again, data) {
		t.Fatalf("snapshot round trip differs:\n%s\n%s", data, again)
	}
	for _, name := range img.TopicNames() {
		if tp, ok := img.TopicByID(img.Topics[name].ID); !ok || tp.ID != img.Topics[name].ID {
			t.Fatalf("TopicByID of %s: %v %v", name, tp, ok)
		}
	}
	applies := func(what string, recs []Record) {
		t.Helper()
		if _, skipped := img.Apply(img.Offset+1, recs); len(skipped) > 0 {
			t.Fatalf("%s wrote records that do not apply: %v\n%+v", what, skipped, recs)
		}
	}
	brokers := slices.Sorted(func(yield func(int32) bool) {
		for id := range img.Brokers {
			if !yield(id) {
				return
			}
		}
	})
	if len(brokers) > 8 {
		brokers = brokers[:8]
	}
	for _, id := range brokers {
		applies("FenceBroker", FenceBroker(img, id, id%2 == 0, func(topic string) bool { return len(topic)%2 == 0 }))
		applies("UnfenceBroker", UnfenceBroker(img, id, uncleanOnly))
		_ = LedBy(img, id)
	}
	applies("PreferredElections", PreferredElections(img, nil))
	_ = LeaderCount(img)
	n := 0
	for _, name := range img.TopicNames() {
		for i, p := range img.Topics[name].Partitions {
			if n++; n > 64 {
				break
			}
			for _, preferred := range []bool{true, false} {
				if rec, err := ElectPartition(img, name, int32(i), preferred); err == nil {
					applies("ElectPartition", []Record{rec})
				}
			}
			if b, ok := img.Brokers[p.Leader]; ok {
				rec, _, err := AlterISR(img, p.Leader, b.Epoch, name, int32(i), p.LeaderEpoch, p.PartitionEpoch, p.Replicas)
				if err == nil && rec != nil {
					applies("AlterISR", []Record{*rec})
				}
			}
		}
	}
	for rf := int16(0); rf <= 3; rf++ {
		a, err := Assign(img, 5, rf, img.PartitionCount())
		if err != nil {
			continue
		}
		for _, rs := range a {
			if len(rs) != int(rf) {
				t.Fatalf("Assign rf %d: %v", rf, a)
			}
			for _, r := range rs {
				if !img.Live(r) {
					t.Fatalf("Assign placed a replica on %d, which is not live: %v", r, a)
				}
			}
		}
	}
}
