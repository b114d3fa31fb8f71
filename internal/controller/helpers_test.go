package controller

import (
	"bytes"
	"fmt"
	"testing"
)

// Unclean-election policies for the decisions.
var (
	cleanOnly   = func(string) bool { return false }
	uncleanOnly = func(string) bool { return true }
)

// build applies each record as its own log entry at offsets 1, 2, ... so
// that a broker registered by the n-th record has epoch n.
func build(t testing.TB, recs ...Record) *Image {
	t.Helper()
	img := NewImage()
	for i, r := range recs {
		var skipped []error
		img, skipped = img.Apply(uint64(i+1), []Record{r})
		if len(skipped) > 0 {
			t.Fatalf("record %d (%s) skipped: %v", i, r.Type, skipped)
		}
	}
	return img
}

// applyAll applies recs as the next entry and fails on a skipped record.
func applyAll(t testing.TB, img *Image, recs []Record) *Image {
	t.Helper()
	next, skipped := img.Apply(img.Offset+1, recs)
	if len(skipped) > 0 {
		t.Fatalf("skipped: %v", skipped)
	}
	return next
}

func regRec(id int32, rack string) Record {
	return Record{Type: RecRegisterBroker, Broker: &Broker{
		ID: id, Host: "localhost", Port: 9000 + id, Rack: rack,
		ControllerAddr: fmt.Sprintf("localhost:%d", 19000+id), Incarnation: fmt.Sprintf("inc-%d", id),
	}}
}

// regRecs registers brokers 1..n without racks.
func regRecs(n int32) []Record {
	var recs []Record
	for id := int32(1); id <= n; id++ {
		recs = append(recs, regRec(id, ""))
	}
	return recs
}

func fenceRec(id int32) Record    { return Record{Type: RecFenceBroker, BrokerID: id} }
func shutdownRec(id int32) Record { return Record{Type: RecShutdownBroker, BrokerID: id} }

func topicID(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	id[15] = byte(len(name))
	return id
}

func topicRec(name string, parts ...Partition) Record {
	return Record{Type: RecCreateTopic, Topic: &Topic{Name: name, ID: topicID(name), Partitions: parts}}
}

func ids(v ...int32) []int32 { return v }

// part is a partition state; epochs are set so that bumps are visible.
func part(leader int32, replicas, isr []int32) Partition {
	return Partition{Replicas: replicas, ISR: isr, Leader: leader, LeaderEpoch: 5, PartitionEpoch: 7}
}

// concat joins record lists.
func concat(lists ...[]Record) []Record {
	var out []Record
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func snapshot(t testing.TB, img *Image) []byte {
	t.Helper()
	b, err := EncodeSnapshot(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameSnapshot(t testing.TB, what string, a, b *Image) {
	t.Helper()
	if sa, sb := snapshot(t, a), snapshot(t, b); !bytes.Equal(sa, sb) {
		t.Fatalf("%s: snapshots differ:\n%s\n%s", what, sa, sb)
	}
}
