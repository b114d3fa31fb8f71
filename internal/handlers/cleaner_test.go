package handlers_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/broker"
)

// cleanerTestSets leave compaction to CleanNow and keep the key map small.
var cleanerTestSets = []string{"log.cleaner.enable=false", "log.cleaner.dedupe.buffer.size=2097152"}

type consumed struct {
	off        int64
	key, value string
	tombstone  bool
}

// A consumer reading a compacted topic from the start sees only the latest
// value of each key in the cleaned segments (tombstones included, until
// delete.retention.ms), every record of the active segment, and offsets
// with gaps; batches were idempotent, compressed and of several keys.
func TestHandlersCompactedTopicConsumer(t *testing.T) {
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		t.Run(fmt.Sprint(codec), func(t *testing.T) {
			tb := startBroker(t, cleanerTestSets...)
			policy, segment := "compact", "2048"
			createTopic(t, tb, "cmp", 1, map[string]*string{"cleanup.policy": &policy, "segment.bytes": &segment})
			cl := tb.client(t, kgo.DefaultProduceTopic("cmp"), kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(0))
			var produced []consumed
			for round := 0; round < 30; round++ {
				var recs []*kgo.Record
				for i := 0; i < 10; i++ {
					key := fmt.Sprintf("k%d", (round*7+i)%13)
					r := &kgo.Record{Key: []byte(key), Value: []byte(fmt.Sprintf("%s-r%d-%d", key, round, i))}
					if (round+i)%17 == 0 {
						r.Value = nil // a tombstone
					}
					recs = append(recs, r)
				}
				res := cl.ProduceSync(testCtx(t), recs...)
				if err := res.FirstErr(); err != nil {
					t.Fatal(err)
				}
				for _, r := range res {
					produced = append(produced, consumed{r.Record.Offset, string(r.Record.Key), string(r.Record.Value), r.Record.Value == nil})
				}
			}
			// A record without a key cannot go to a compacted topic.
			err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("no key")}).FirstErr()
			if !errors.Is(err, kerr.InvalidRecord) {
				t.Fatalf("keyless record: %v, want INVALID_RECORD", err)
			}

			passes, err := tb.b.CleanNow()
			if err != nil || passes != 1 {
				t.Fatalf("CleanNow: %d passes, %v", passes, err)
			}
			_, p, _ := tb.b.Partition("cmp", 0)
			end := p.FirstDirtyOffset()
			hw := p.HighWatermark()
			if end <= 0 || end >= hw {
				t.Fatalf("cleaned up to %d of %d", end, hw)
			}
			latest := map[string]int64{}
			for _, r := range produced {
				if r.off < end {
					latest[r.key] = r.off
				}
			}
			var want []consumed
			for _, r := range produced {
				if r.off >= end || latest[r.key] == r.off {
					want = append(want, r)
				}
			}
			if len(want) >= len(produced)/2 {
				t.Fatalf("compaction should remove most records: %d of %d left", len(want), len(produced))
			}

			consumer := tb.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"cmp": {0: kgo.NewOffset().At(0)}}))
			var got []consumed
			for len(got) == 0 || got[len(got)-1].off < hw-1 {
				fs := consumer.PollFetches(testCtx(t))
				if err := fs.Err(); err != nil {
					t.Fatal(err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					got = append(got, consumed{r.Offset, string(r.Key), string(r.Value), r.Value == nil})
				})
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("consumed %d records\n%v\nwant %d\n%v", len(got), got, len(want), want)
			}
		})
	}
}

// __consumer_offsets is compacted like any compacted topic; after a
// restart the group coordinator replays it, gaps and tombstones included,
// and serves the latest commits.
func TestHandlersCompactedOffsetsTopicReplay(t *testing.T) {
	dir := t.TempDir()
	sets := append(append([]string{}, cleanerTestSets...), groupSets...)
	tb := startBrokerIn(t, dir, sets...)
	createTopic(t, tb, "x", 3, nil)
	adm := tb.admin(t)
	commit := func(part int32, at int64) {
		t.Helper()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "x", Partition: part, At: at, LeaderEpoch: -1})
		if resp, err := adm.CommitOffsets(testCtx(t), "g", os); err != nil || resp.Error() != nil {
			t.Fatalf("commit: %v %v", err, resp.Error())
		}
	}
	commit(0, 0) // creates __consumer_offsets
	small := "1024"
	if _, err := adm.AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{{Name: "segment.bytes", Value: &small}}, broker.OffsetsTopic); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 150; i++ {
		commit(int32(i%3), i)
	}
	if resp, err := adm.DeleteOffsets(testCtx(t), "g", kadm.TopicsSet{"x": {2: {}}}); err != nil || resp.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, resp.Error())
	}
	for i := int64(151); i <= 160; i++ {
		commit(int32(i%2), i) // roll past the tombstone
	}
	if passes, err := tb.b.CleanNow(); err != nil || passes == 0 {
		t.Fatalf("CleanNow: %d passes, %v", passes, err)
	}
	ot, _ := tb.b.Topic(broker.OffsetsTopic)
	var cleaned, size int64
	for _, p := range tb.b.Partitions(ot) {
		cleaned += p.FirstDirtyOffset()
		size += p.Size()
	}
	if cleaned == 0 || size > 16<<10 {
		t.Fatalf("offsets topic: cleaned up to %d, %d bytes", cleaned, size)
	}

	tb.stop()
	tb = startBrokerIn(t, dir, sets...)
	fo, err := tb.admin(t).FetchOffsets(testCtx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	for part, want := range map[int32]int64{0: 160, 1: 159} {
		if o, ok := fo.Lookup("x", part); !ok || o.At != want {
			t.Errorf("x-%d: %+v, want %d", part, o, want)
		}
	}
	if o, ok := fo.Lookup("x", 2); ok && o.At >= 0 {
		t.Errorf("x-2 deleted before the restart, now %+v", o)
	}
}
