package broker

import (
	"context"
	"errors"
	"github.com/gregor-dev/gregor/internal/testutil"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
)

// syncBuffer is a log destination safe for the broker's goroutines.
type syncBuffer = testutil.SyncBuffer

// On a single replica a scrub pass finds a batch that rotted in a sealed
// segment, counts it, says at ERROR exactly which offsets are lost, and
// the partition refuses to serve them while serving the rest.
func TestBrokerScrubFindsDamageOnSingleReplica(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(config.LoadOptions{Sets: []string{"log.dirs=" + dir}})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	var mu sync.Mutex
	damaged := map[string]int{}
	b, err := Open(cfg, Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnDamage: func(topic string, p int32, n int) {
			mu.Lock()
			damaged[topic] += n
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	newFakeController(b)
	if _, _, err := b.CreateTopic(TopicSpec{Name: "s", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"segment.bytes": "1024"}}, false); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if _, err := appendOne(t, b, "s", 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.ScrubNow(context.Background()); n != 0 {
		t.Fatalf("scrub of an intact log found %d", n)
	}
	h := rotSecondBatch(t, dir, "s")

	if n := b.ScrubNow(context.Background()); n != 1 {
		t.Fatalf("scrub found %d damaged ranges, want 1", n)
	}
	mu.Lock()
	if damaged["s"] != 1 {
		t.Fatalf("OnDamage counted %v", damaged)
	}
	mu.Unlock()
	out := logs.String()
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "LOST") {
			line = l
		}
	}
	for _, want := range []string{"level=ERROR", "topic=s", "partition=0", "fromOffset=2", "toOffset=3", "offsets=2", "records=2", "00000000000000000000.log", "position="} {
		if !strings.Contains(line, want) {
			t.Fatalf("no %q in the damage line %q", want, line)
		}
	}
	_, p, err := b.Partition("s", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Fetch(2, 1<<20, true); !errors.Is(err, partition.ErrDamaged) || !errors.Is(err, partition.ErrStorage) {
		t.Fatalf("fetch of the damaged batch: %v", err)
	}
	if res, err := p.Fetch(0, 1<<20, true); err != nil || res.Records.Len() != h.Size() {
		t.Fatalf("fetch before the damage: %v, %d bytes, want %d", err, res.Records.Len(), h.Size())
	}
	if res, err := p.Fetch(4, 1<<20, true); err != nil || res.Records.Len() == 0 {
		t.Fatalf("fetch after the damage: %v", err)
	}
	// Known damage is not found again.
	if n := b.ScrubNow(context.Background()); n != 0 {
		t.Fatalf("second pass found %d", n)
	}
}

// rotSecondBatch flips a byte in the second batch (offsets 2 and 3) of the
// first segment of topic-0 and returns the first batch's header.
func rotSecondBatch(t *testing.T, dir, topic string) record.Header {
	t.Helper()
	seg := filepath.Join(PartitionDir(dir, topic, 0), "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _, err := record.Next(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{data[h.Size()+45] ^ 0xff}, h.Size()+45); err != nil {
		t.Fatal(err)
	}
	return h
}

// The background scrubber runs every log.scrub.interval.ms.
func TestBrokerScrubRunsInBackground(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(config.LoadOptions{Sets: []string{"log.dirs=" + dir, "log.scrub.interval.ms=50"}})
	if err != nil {
		t.Fatal(err)
	}
	found := make(chan int, 100)
	b, err := Open(cfg, Options{
		Logger:   slog.New(slog.DiscardHandler),
		OnDamage: func(topic string, p int32, n int) { found <- n },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	newFakeController(b)
	if _, _, err := b.CreateTopic(TopicSpec{Name: "s", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"segment.bytes": "1024"}}, false); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if _, err := appendOne(t, b, "s", 0); err != nil {
			t.Fatal(err)
		}
	}
	rotSecondBatch(t, dir, "s")
	select {
	case n := <-found:
		if n != 1 {
			t.Fatalf("found %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the background scrubber found nothing")
	}
}
