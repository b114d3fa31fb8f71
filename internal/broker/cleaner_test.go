package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// cleanerSets are broker settings for cleaner tests: a small dedupe buffer
// (2 MiB, more than the 1 MiB per thread Kafka requires).
var cleanerSets = []string{"log.cleaner.dedupe.buffer.size=2097152"}

func appendKeyed(t *testing.T, b *Broker, topic string, ts int64, keys ...string) error {
	t.Helper()
	tp, p, err := b.Partition(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	bt := recordtest.Batch{ProducerID: -1, BaseSequence: -1}
	for _, k := range keys {
		var key []byte
		if k != "" {
			key = []byte(k)
		}
		bt.Records = append(bt.Records, recordtest.Record{Key: key, Value: []byte(fmt.Sprintf("%s@%d", k, p.HighWatermark())), Timestamp: ts})
	}
	raw := bt.Encode()
	h, err := record.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := p.Produce(raw, &h, partition.AcksLeader, tp.AppendConfig())
	if err == nil {
		err = ack.Wait(context.Background())
	}
	return err
}

// readKeys returns the key of every record of partition 0 of topic.
func readKeys(t *testing.T, p *partition.Partition) []string {
	t.Helper()
	var keys []string
	for next := p.LogStartOffset(); next < p.HighWatermark(); {
		res, err := p.Fetch(next, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := res.Records.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		for rest := stored; len(rest) > 0; {
			h, b, r, err := record.Next(rest)
			if err != nil {
				t.Fatal(err)
			}
			if err := record.EachRecord(b, func(r *record.Record) bool {
				keys = append(keys, string(r.Key))
				return true
			}); err != nil {
				t.Fatal(err)
			}
			next, rest = h.NextOffset(), r
		}
	}
	return keys
}

func createTopic(t *testing.T, b *Broker, name string, configs map[string]string) *partition.Partition {
	t.Helper()
	if _, _, err := b.CreateTopic(TopicSpec{Name: name, Partitions: 1, ReplicationFactor: 1, Configs: configs}, false); err != nil {
		t.Fatal(err)
	}
	_, p, err := b.Partition(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBrokerCleanerCompactsCompactedTopicsOnly(t *testing.T) {
	b := openBroker(t, t.TempDir(), nil, append(cleanerSets, "log.cleaner.enable=false")...)
	defer b.Close()
	parts := map[string]*partition.Partition{}
	for _, policy := range []string{"compact", "delete", "compact,delete"} {
		name := "t-" + strings.ReplaceAll(policy, ",", "-")
		parts[policy] = createTopic(t, b, name, map[string]string{"cleanup.policy": policy, "segment.bytes": "1000"})
		now := time.Now().UnixMilli()
		for i := 0; i < 100; i++ {
			if err := appendKeyed(t, b, name, now, fmt.Sprintf("k%d", i%7), fmt.Sprintf("j%d", i%3)); err != nil {
				t.Fatal(err)
			}
		}
	}
	passes, err := b.CleanNow()
	if err != nil || passes != 2 {
		t.Fatalf("CleanNow: %d passes, %v; want one per compacted partition", passes, err)
	}
	for policy, p := range parts {
		keys := readKeys(t, p)
		if policy == "delete" {
			if len(keys) != 200 {
				t.Fatalf("delete topic: %d records, want all 200", len(keys))
			}
			continue
		}
		// Closed segments hold each key once; the active one is not
		// cleaned.
		clean := p.FirstDirtyOffset()
		if clean < 150 {
			t.Fatalf("%s: first dirty offset %d", policy, clean)
		}
		seen := map[string]bool{}
		for _, k := range keys[:len(keys)-int(p.HighWatermark()-clean)] {
			if seen[k] {
				t.Fatalf("%s: key %s twice in the cleaned section: %v", policy, k, keys)
			}
			seen[k] = true
		}
	}
	// Compacted topics refuse records without a key.
	if err := appendKeyed(t, b, "t-compact", time.Now().UnixMilli(), "a", ""); !errors.Is(err, record.ErrInvalid) {
		t.Fatalf("keyless record: %v, want ErrInvalid", err)
	}
	if err := appendKeyed(t, b, "t-delete", time.Now().UnixMilli(), "a", ""); err != nil {
		t.Fatal(err)
	}
	// Nothing new to clean: no pass.
	if passes, err := b.CleanNow(); err != nil || passes != 0 {
		t.Fatalf("second CleanNow: %d passes, %v", passes, err)
	}
}

// TestBrokerCleanerPicksFilthiest checks the choice of the partition to
// clean: the highest dirty ratio first, none below min.cleanable.dirty.ratio
// unless max.compaction.lag.ms is exceeded.
func TestBrokerCleanerPicksFilthiest(t *testing.T) {
	b := openBroker(t, t.TempDir(), nil, append(cleanerSets, "log.cleaner.enable=false")...)
	defer b.Close()
	now := time.Now().UnixMilli()
	write := func(topic string, n int, ts int64) {
		for i := 0; i < n; i++ {
			if err := appendKeyed(t, b, topic, ts, fmt.Sprintf("k%d", i%5)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Mostly clean logs, with a little dirt on top: one with a young dirty
	// section, one whose dirty section is older than its max lag.
	lazy := createTopic(t, b, "lazy", map[string]string{"cleanup.policy": "compact", "segment.bytes": "500", "min.cleanable.dirty.ratio": "0.5"})
	due := createTopic(t, b, "due", map[string]string{"cleanup.policy": "compact", "segment.bytes": "500", "min.cleanable.dirty.ratio": "0.5", "max.compaction.lag.ms": "60000"})
	write("lazy", 200, now)
	write("due", 200, now-3600_000)
	if _, err := b.CleanNow(); err != nil {
		t.Fatal(err)
	}
	write("lazy", 8, now)
	write("due", 8, now-3600_000)
	// A log that was never cleaned: all dirty.
	filthy := createTopic(t, b, "filthy", map[string]string{"cleanup.policy": "compact", "segment.bytes": "500"})
	write("filthy", 50, now)
	for name, p := range map[string]*partition.Partition{"lazy": lazy, "due": due, "filthy": filthy} {
		info, err := p.Cleanable(0)
		if err != nil || info.DirtyBytes == 0 {
			t.Fatalf("%s: %+v %v", name, info, err)
		}
		t.Logf("%s: dirty ratio %.2f, first dirty timestamp %d", name, info.DirtyRatio(), info.FirstDirtyTimestamp)
		if name != "filthy" && info.DirtyRatio() >= 0.5 {
			t.Fatalf("%s: dirty ratio %.2f, want it below 0.5", name, info.DirtyRatio())
		}
	}
	c := b.cleaner
	var order []string
	for {
		j, ok := c.grabFilthiest()
		if !ok {
			break
		}
		order = append(order, j.p.Topic)
		if len(order) > 3 {
			break
		}
	}
	if fmt.Sprint(order) != "[due filthy]" {
		t.Fatalf("cleaning order %v, want [due filthy] (lazy is below its ratio)", order)
	}
	// Released, they are candidates again, and cleaning them leaves nothing.
	c.mu.Lock()
	clear(c.busy)
	c.mu.Unlock()
	m := c.offsetMap(nil)
	if !c.cleanFilthiest(m) || !c.cleanFilthiest(m) || c.cleanFilthiest(m) {
		t.Fatal("want exactly two passes: due and filthy")
	}
	if info, _ := due.Cleanable(0); info.DirtyBytes != 0 {
		t.Fatalf("due still dirty: %+v", info)
	}
}

// TestBrokerCleanerRunsInBackground starts the cleaner threads and waits
// for them to compact a topic, then checks Close stops them.
func TestBrokerCleanerRunsInBackground(t *testing.T) {
	b := openBroker(t, t.TempDir(), nil, append(cleanerSets, "log.cleaner.backoff.ms=5", "log.cleaner.threads=2", "log.cleaner.dedupe.buffer.size=4194304")...)
	closed := false
	defer func() {
		if !closed {
			b.Close()
		}
	}()
	var parts []*partition.Partition
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("bg%d", i)
		parts = append(parts, createTopic(t, b, name, map[string]string{"cleanup.policy": "compact", "segment.bytes": "1000"}))
		for j := 0; j < 100; j++ {
			if err := appendKeyed(t, b, name, time.Now().UnixMilli(), fmt.Sprintf("k%d", j%4)); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range parts {
		for {
			info, err := p.Cleanable(0)
			if err != nil {
				t.Fatal(err)
			}
			if info.DirtyBytes == 0 && info.FirstDirty > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not cleaned: %+v", p.Topic, info)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if _, err := b.CleanNow(); err == nil {
		t.Fatal("CleanNow after Close worked")
	}
}

func TestBrokerCompactedSegmentMs(t *testing.T) {
	b := openBroker(t, t.TempDir(), nil, cleanerSets...)
	defer b.Close()
	for _, c := range []struct {
		configs map[string]string
		want    int64
	}{
		{map[string]string{"cleanup.policy": "compact"}, 7 * 24 * 3600_000},
		{map[string]string{"cleanup.policy": "compact", "max.compaction.lag.ms": "60000"}, 60000},
		{map[string]string{"cleanup.policy": "compact", "max.compaction.lag.ms": "60000", "segment.ms": "1000"}, 1000},
		{map[string]string{"cleanup.policy": "delete", "max.compaction.lag.ms": "60000"}, 7 * 24 * 3600_000},
	} {
		name := fmt.Sprintf("seg%d", len(b.TopicNames()))
		if _, _, err := b.CreateTopic(TopicSpec{Name: name, Partitions: 1, ReplicationFactor: 1, Configs: c.configs}, false); err != nil {
			t.Fatal(err)
		}
		tp, _ := b.Topic(name)
		if got := compactedSegmentMs(b.TopicConfig(tp)); got != c.want {
			t.Errorf("%v: segment.ms %d, want %d", c.configs, got, c.want)
		}
	}
}

// The cleaner's map size and I/O rate follow dynamic broker configs from
// the next pass.
func TestBrokerCleanerDynamicConfig(t *testing.T) {
	b := openBroker(t, t.TempDir(), nil, "log.cleaner.enable=false", "log.cleaner.threads=2", "log.cleaner.dedupe.buffer.size=4194304")
	defer b.Close()
	c := b.cleaner
	m := c.offsetMap(nil)
	if m.Memory() > 2<<20 || m.Memory() < 2<<20-100 || c.offsetMap(m) != m || c.currentThrottle() != nil {
		t.Fatalf("map of %d bytes for 4 MiB over 2 threads; throttle %v", m.Memory(), c.currentThrottle())
	}
	set := func(k, v string) {
		t.Helper()
		vals := b.Config().DynamicValues(config.SourceDynamicDefaultBrokerConfig)
		vals[k] = v
		if err := b.UpdateDynamicConfig("", config.SourceDynamicDefaultBrokerConfig, vals, false); err != nil {
			t.Fatal(err)
		}
	}
	set("log.cleaner.dedupe.buffer.size", "8388608")
	set("log.cleaner.io.max.bytes.per.second", "1048576")
	if m2 := c.offsetMap(m); m2 == m || m2.Memory() <= 2<<20 || m2.Memory() > 4<<20 {
		t.Fatalf("after the change: map of %d bytes", m2.Memory())
	}
	if th := c.currentThrottle(); th == nil || c.currentThrottle() != th {
		t.Fatal("no stable throttle at 1 MiB/s")
	}
}
