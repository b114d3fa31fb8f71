package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The workload every client test uses: record i has key "key-(i mod
// numKeys)" and the unique value "<tag>-<i>", produced in order of i. Because
// a producer keeps the order of records sent to one partition, the records of
// each partition must come back with increasing i.

const numKeys = 37

func workloadKey(i int) string { return fmt.Sprintf("key-%02d", i%numKeys) }

func workloadValue(tag string, i int) string { return fmt.Sprintf("%s-%06d", tag, i) }

// sentRecord is one record handed to a producer; Partition and Offset are
// what the producer was told, or -1 when the client does not report them.
type sentRecord struct {
	Key, Value string
	Partition  int32
	Offset     int64
}

// gotRecord is one record read back by a consumer.
type gotRecord struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
}

func workload(tag string, n int) []sentRecord {
	recs := make([]sentRecord, n)
	for i := range recs {
		recs[i] = sentRecord{Key: workloadKey(i), Value: workloadValue(tag, i), Partition: -1, Offset: -1}
	}
	return recs
}

// errorList collects mismatch descriptions, keeping the first few.
type errorList struct {
	n    int
	msgs []string
}

func (e *errorList) add(format string, args ...any) {
	e.n++
	if len(e.msgs) < 25 {
		e.msgs = append(e.msgs, fmt.Sprintf(format, args...))
	}
}

func (e *errorList) report(t *testing.T, what string) {
	t.Helper()
	if e.n > 0 {
		t.Errorf("%s: %d mismatches, first ones:\n  %s", what, e.n, strings.Join(e.msgs, "\n  "))
	}
}

// verifyRoundTrip checks that got holds exactly the records of sent: no
// loss, no duplicates, no strangers, each partition in produce order with
// increasing offsets, each key in a single partition, and (where the
// producer reported them) the partition and offset the producer was told.
func verifyRoundTrip(t *testing.T, sent []sentRecord, got []gotRecord) {
	t.Helper()
	var errs errorList
	index := make(map[string]int, len(sent))
	for i, s := range sent {
		index[s.Value] = i
	}
	seen := make(map[string]gotRecord, len(got))
	lastIndex := map[int32]int{}
	lastOffset := map[int32]int64{}
	keyPartition := map[string]int32{}
	for _, g := range got {
		i, ok := index[g.Value]
		if !ok {
			errs.add("unexpected record p%d@%d key=%q value=%q", g.Partition, g.Offset, g.Key, g.Value)
			continue
		}
		if prev, dup := seen[g.Value]; dup {
			errs.add("duplicate value %q at p%d@%d and p%d@%d", g.Value, prev.Partition, prev.Offset, g.Partition, g.Offset)
			continue
		}
		seen[g.Value] = g
		s := sent[i]
		if g.Key != s.Key {
			errs.add("value %q came back with key %q, sent with %q", g.Value, g.Key, s.Key)
		}
		if li, ok := lastIndex[g.Partition]; ok && i <= li {
			errs.add("partition %d out of produce order: %q (#%d) after #%d", g.Partition, g.Value, i, li)
		}
		lastIndex[g.Partition] = i
		if lo, ok := lastOffset[g.Partition]; ok && g.Offset <= lo {
			errs.add("partition %d offsets not increasing: %d after %d", g.Partition, g.Offset, lo)
		}
		lastOffset[g.Partition] = g.Offset
		if kp, ok := keyPartition[g.Key]; ok && kp != g.Partition {
			errs.add("key %q in partitions %d and %d", g.Key, kp, g.Partition)
		} else {
			keyPartition[g.Key] = g.Partition
		}
		if s.Partition >= 0 && s.Partition != g.Partition {
			errs.add("value %q: producer was told partition %d, consumer read it from %d", g.Value, s.Partition, g.Partition)
		}
		if s.Offset >= 0 && s.Offset != g.Offset {
			errs.add("value %q: producer was told offset %d, consumer read it at %d", g.Value, s.Offset, g.Offset)
		}
	}
	missing := 0
	for _, s := range sent {
		if _, ok := seen[s.Value]; !ok {
			missing++
			if missing <= 5 {
				errs.add("lost record key=%q value=%q (producer said p%d@%d)", s.Key, s.Value, s.Partition, s.Offset)
			}
		}
	}
	if missing > 5 {
		errs.add("... %d records lost in all", missing)
	}
	errs.report(t, "round trip")
	if len(keyPartition) > 0 {
		parts := map[int32]bool{}
		for _, p := range keyPartition {
			parts[p] = true
		}
		t.Logf("%d records over %d partitions verified", len(got), len(parts))
	}
}

// verifyProducerKeys checks that a producer reported one partition per key.
func verifyProducerKeys(t *testing.T, sent []sentRecord) {
	t.Helper()
	var errs errorList
	kp := map[string]int32{}
	for _, s := range sent {
		if p, ok := kp[s.Key]; ok && p != s.Partition {
			errs.add("producer put key %q in partitions %d and %d", s.Key, p, s.Partition)
		}
		kp[s.Key] = s.Partition
	}
	errs.report(t, "producer key placement")
}

// newKgo returns a franz-go client for addr, closed when the test ends;
// warnings and errors it logs are shown if the test fails.
func newKgo(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	logs := failureLog(t, "franz-go")
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.WithLogger(kgo.BasicLogger(logs, kgo.LogLevelInfo, nil)),
		kgo.RetryTimeout(20 * time.Second),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t *testing.T, addr string) *kadm.Client {
	return kadm.NewClient(newKgo(t, addr))
}

// createTopic creates topic with the given partitions (replication factor
// 1) and configs and fails the test on any error.
func createTopic(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	t.Helper()
	resps, err := adm.CreateTopics(ctx, partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
	r, ok := resps[topic]
	if !ok {
		t.Fatalf("CreateTopics %s: no response for the topic: %+v", topic, resps)
	}
	if r.Err != nil {
		t.Fatalf("CreateTopics %s: %v (%s)", topic, r.Err, r.ErrMessage)
	}
	waitTopic(t, ctx, adm, topic, int(partitions))
	return r
}

// waitTopic waits until Metadata shows topic with the given number of
// partitions, each with a leader (Kafka lets metadata lag a creation).
func waitTopic(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partitions int) {
	t.Helper()
	checkFor(t, 10*time.Second, func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil {
			return fmt.Errorf("topic %s not in metadata yet: %v", topic, td.Err)
		}
		if len(td.Partitions) != partitions {
			return fmt.Errorf("topic %s has %d partitions in metadata, want %d", topic, len(td.Partitions), partitions)
		}
		for p, pd := range td.Partitions {
			if pd.Err != nil || pd.Leader < 0 {
				return fmt.Errorf("topic %s partition %d: leader %d, err %v", topic, p, pd.Leader, pd.Err)
			}
		}
		return nil
	})
}

// offsetRange is [start, end) of one partition.
type offsetRange struct{ start, end int64 }

// listRanges lists every partition's start and end offsets through kadm.
func listRanges(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) map[int32]offsetRange {
	t.Helper()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListStartOffsets %s: %v", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListEndOffsets %s: %v", topic, err)
	}
	ranges := map[int32]offsetRange{}
	for p, e := range ends[topic] {
		if e.Err != nil {
			t.Fatalf("ListEndOffsets %s[%d]: %v", topic, p, e.Err)
		}
		s, ok := starts.Lookup(topic, p)
		if !ok || s.Err != nil {
			t.Fatalf("ListStartOffsets %s[%d]: missing or failed: %+v", topic, p, s)
		}
		ranges[p] = offsetRange{s.Offset, e.Offset}
	}
	if len(ranges) == 0 {
		t.Fatalf("ListEndOffsets %s: no partitions", topic)
	}
	return ranges
}

// consumeKgo reads every partition of topic from its start offset up to the
// end offset listed when it begins, with franz-go and direct assignment.
func consumeKgo(t *testing.T, ctx context.Context, addr, topic string) []gotRecord {
	t.Helper()
	ranges := listRanges(t, ctx, newAdmin(t, addr), topic)
	assign := map[int32]kgo.Offset{}
	remaining := 0
	for p, r := range ranges {
		if r.end > r.start {
			assign[p] = kgo.NewOffset().At(r.start)
			remaining++
		}
	}
	if remaining == 0 {
		return nil
	}
	cl := newKgo(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	return pollKgoUntil(t, ctx, cl, topic, ranges)
}

// pollKgoUntil polls cl until every partition in ranges has been read up to
// its end offset.
func pollKgoUntil(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, ranges map[int32]offsetRange) []gotRecord {
	t.Helper()
	next := map[int32]int64{}
	for p, r := range ranges {
		next[p] = r.start
	}
	done := func() bool {
		for p, r := range ranges {
			if next[p] < r.end {
				return false
			}
		}
		return true
	}
	var got []gotRecord
	for !done() {
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: %v; read up to %v, want ends %v", topic, ctx.Err(), next, ranges)
		}
		fs := cl.PollFetches(ctx)
		for _, fe := range fs.Errors() {
			if fe.Err == context.DeadlineExceeded || fe.Err == context.Canceled {
				continue
			}
			t.Fatalf("fetch %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, gotRecord{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: string(r.Value)})
			if r.Offset+1 > next[r.Partition] {
				next[r.Partition] = r.Offset + 1
			}
		})
	}
	sortByPartitionOffset(got)
	return got
}

// sortByPartitionOffset orders records by partition, keeping each
// partition's order as read (stable), so verifyRoundTrip sees the order the
// consumer saw.
func sortByPartitionOffset(recs []gotRecord) {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Partition < recs[j].Partition })
}

// compressionCodecs are the codec names every client test covers.
var compressionCodecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// topicName makes a topic name unique to a test and a variant.
func topicName(t *testing.T, variant string) string {
	name := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	if variant != "" {
		name += "-" + variant
	}
	return strings.ToLower(name)
}
