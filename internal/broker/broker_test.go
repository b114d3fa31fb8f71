package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/storage"
	"github.com/gregor-dev/gregor/internal/storagetest"
	"github.com/gregor-dev/gregor/internal/testutil"
)

func appendOne(t *testing.T, b *Broker, topic string, p int32) (partition.AppendResult, error) {
	t.Helper()
	tp, part, err := b.Partition(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	raw := recordtest.Simple(2, time.Now().UnixMilli()).Encode()
	h, err := record.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := part.Produce(raw, &h, partition.AcksLeader, tp.AppendConfig())
	if err == nil {
		err = ack.Wait(context.Background())
	}
	return ack.Result, err
}

func TestBrokerCreateTopicValidation(t *testing.T) {
	b := openBroker(t, t.TempDir(), nil)
	defer b.Close()
	if _, _, err := b.CreateTopic(TopicSpec{Name: "x.y", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		spec TopicSpec
		want error
	}{
		{TopicSpec{Name: "x.y", Partitions: 1, ReplicationFactor: 1}, ErrTopicExists},
		{TopicSpec{Name: "x_y", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic},
		{TopicSpec{Name: "..", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic},
		{TopicSpec{Name: strings.Repeat("a", 250), Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic},
		{TopicSpec{Name: "sp ace", Partitions: 1, ReplicationFactor: 1}, ErrInvalidTopic},
		{TopicSpec{Name: "z", Partitions: 0, ReplicationFactor: 1}, ErrInvalidPartitions},
		{TopicSpec{Name: "z", Partitions: 1, ReplicationFactor: 3}, ErrInvalidReplicationFactor},
		{TopicSpec{Name: "z", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"no.such": "1"}}, config.ErrUnknownKey},
		{TopicSpec{Name: "z", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"segment.bytes": "x"}}, config.ErrInvalidValue},
	} {
		if _, _, err := b.CreateTopic(c.spec, false); !errors.Is(err, c.want) {
			t.Errorf("%q: got %v, want %v", c.spec.Name, err, c.want)
		}
	}
	if _, _, err := b.CreateTopic(TopicSpec{Name: "v", Partitions: 2, ReplicationFactor: 1}, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Topic("v"); ok {
		t.Fatal("validate-only created the topic")
	}
}

func TestBrokerDeleteTopicRemovesData(t *testing.T) {
	dir := t.TempDir()
	b := openBroker(t, dir, nil)
	defer b.Close()
	if _, _, err := b.CreateTopic(TopicSpec{Name: "gone", Partitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "gone") {
			t.Fatalf("left behind %s", e.Name())
		}
	}
	// A new topic of the same name starts empty with a new id.
	tp, _, err := b.CreateTopic(TopicSpec{Name: "gone", Partitions: 1, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, p, _ := b.Partition("gone", 0); p.HighWatermark() != 0 || tp == nil {
		t.Fatal("recreated topic is not empty")
	}
}

func TestBrokerInterruptedDeletionFinishesAtStart(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "old-0.abc-delete")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	b := openBroker(t, dir, nil)
	defer b.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale deleted partition still there: %v", err)
	}
}

func TestBrokerWriteErrorIsSticky(t *testing.T) {
	ffs := storagetest.NewFaultFS(storage.OS)
	b := openBroker(t, t.TempDir(), ffs)
	defer b.Close()
	if _, _, err := b.CreateTopic(TopicSpec{Name: "w", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	ffs.InjectError(storagetest.OpWrite, "*.log", 1, errors.New("disk on fire"))
	if _, err := appendOne(t, b, "w", 0); !errors.Is(err, storage.ErrStorage) {
		t.Fatalf("first append after the fault: %v", err)
	}
	if _, err := appendOne(t, b, "w", 0); !errors.Is(err, storage.ErrStorage) {
		t.Fatalf("the partition accepted a write after a failed one: %v", err)
	}
}

// A full disk is not sticky: the append is refused with a storage error
// (KAFKA_STORAGE_ERROR), and once the file system takes writes again the
// partition appends at the next offset, without a restart.
func TestBrokerNoSpaceResumesWithoutRestart(t *testing.T) {
	ffs := storagetest.NewFaultFS(storage.OS)
	b := openBroker(t, t.TempDir(), ffs)
	defer b.Close()
	if _, _, err := b.CreateTopic(TopicSpec{Name: "w", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	first, err := appendOne(t, b, "w", 0)
	if err != nil {
		t.Fatal(err)
	}
	ffs.InjectError(storagetest.OpWrite, "*.log", 1, syscall.ENOSPC)
	if _, err := appendOne(t, b, "w", 0); !errors.Is(err, storage.ErrStorage) || !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("append on a full disk: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := appendOne(t, b, "w", 0)
		if err == nil {
			if res.BaseOffset != first.BaseOffset+2 {
				t.Fatalf("resumed at offset %d, want %d", res.BaseOffset, first.BaseOffset+2)
			}
			break
		}
		if !errors.Is(err, storage.ErrNoSpace) || time.Now().After(deadline) {
			t.Fatalf("append after space came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBrokerCreatePartitions(t *testing.T) {
	b := openBroker(t, t.TempDir(), nil)
	defer b.Close()
	if _, _, err := b.CreateTopic(TopicSpec{Name: "g", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := b.CreatePartitions("g", 1, false); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("same count: %v", err)
	}
	if err := b.CreatePartitions("g", 4, false); err != nil {
		t.Fatal(err)
	}
	if _, err := appendOne(t, b, "g", 3); err != nil {
		t.Fatal(err)
	}
	if err := b.CreatePartitions("nope", 4, false); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}

// Dynamic broker configs changed through the broker reach the topics that
// inherit them once committed; read-only keys are refused.
func TestBrokerDynamicConfigsApply(t *testing.T) {
	b := openBroker(t, t.TempDir(), nil)
	defer b.Close()
	if _, _, err := b.CreateTopic(TopicSpec{Name: "d", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateDynamicConfig("", config.SourceDynamicDefaultBrokerConfig, map[string]string{"message.max.bytes": "2000"}, false); err != nil {
		t.Fatal(err)
	}
	tp, _ := b.Topic("d")
	if got := tp.AppendConfig().MaxMessageBytes; got != 2000 {
		t.Fatalf("topic did not inherit the dynamic default: %d", got)
	}
	if err := b.UpdateDynamicConfig("", config.SourceDynamicDefaultBrokerConfig, map[string]string{"node.id": "2000"}, false); err == nil {
		t.Fatal("a read-only key was changed dynamically")
	}
	if err := b.UpdateDynamicConfig("", config.SourceDynamicDefaultBrokerConfig, map[string]string{}, false); err != nil {
		t.Fatal(err)
	}
	if got := tp.AppendConfig().MaxMessageBytes; got != 1048588 {
		t.Fatalf("removed default still applies: %d", got)
	}
}

// Producer ids come from blocks the controller reserves; the next block is
// fetched ahead, so ids keep coming while the controller is unreachable
// until the blocks held run out; then the answer is a retriable error.
func TestBrokerProducerIDBlocks(t *testing.T) {
	b, ctl := openBrokerCtl(t, t.TempDir(), nil)
	defer b.Close()
	ctx := context.Background()
	seen := map[int64]bool{}
	for range 9 {
		id, err := b.AllocateProducerID(ctx)
		if err != nil || seen[id] {
			t.Fatalf("id %d err %v (seen %v)", id, err, seen[id])
		}
		seen[id] = true
	}
	// The 10th of a block of 10 triggers the prefetch; wait for it.
	waitFor(t, func() bool {
		b.pids.mu.Lock()
		defer b.pids.mu.Unlock()
		return b.pids.prefetch != nil
	})
	ctl.mu.Lock()
	ctl.pidErr = ErrNotController
	ctl.mu.Unlock()
	for range 11 { // the rest of the first block and the prefetched one
		id, err := b.AllocateProducerID(ctx)
		if err != nil || seen[id] {
			t.Fatalf("with the controller gone: id %d err %v", id, err)
		}
		seen[id] = true
	}
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.AllocateProducerID(ctx); !errors.Is(err, ErrProducerIDsUnavailable) {
		t.Fatalf("blocks used up, controller gone: %v", err)
	}
}

// waitFor polls cond (bounded) for state another goroutine changes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() error {
		if !cond() {
			return errors.New("condition not reached")
		}
		return nil
	})
}
