package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/storage"
	"github.com/gregor-dev/gregor/internal/storagetest"
)

func openBroker(t *testing.T, dir string, fsys storage.FS, sets ...string) *Broker {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{Sets: append([]string{"log.dirs=" + dir}, sets...)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(cfg, Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

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
	return part.Append(raw, &h, tp.AppendConfig())
}

func TestBrokerTopicsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := openBroker(t, dir, nil)
	tp, _, err := b.CreateTopic(TopicSpec{Name: "a.b", Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	id := tp.ID
	if _, err := appendOne(t, b, "a.b", 2); err != nil {
		t.Fatal(err)
	}
	pid1, _ := b.AllocateProducerID()
	cluster := b.ClusterID()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openBroker(t, dir, nil)
	defer b.Close()
	tp, ok := b.Topic("a.b")
	if !ok || tp.ID != id || len(b.Partitions(tp)) != 3 {
		t.Fatalf("topic after restart: %+v ok=%v", tp, ok)
	}
	if v, src := b.TopicConfig(tp).Get("retention.ms"); v != "1000" || src != config.SourceTopicConfig {
		t.Fatalf("config after restart: %s %v", v, src)
	}
	if b.ClusterID() != cluster {
		t.Fatalf("cluster id changed: %s -> %s", cluster, b.ClusterID())
	}
	if _, p, _ := b.Partition("a.b", 2); p.HighWatermark() != 2 {
		t.Fatalf("records lost: hw %d", p.HighWatermark())
	}
	if pid2, _ := b.AllocateProducerID(); pid2 <= pid1 {
		t.Fatalf("producer id reused after restart: %d then %d", pid1, pid2)
	}
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

func TestBrokerRefusesAnotherNodesDataDir(t *testing.T) {
	dir := t.TempDir()
	openBroker(t, dir, nil).Close()
	cfg, _ := config.Load(config.LoadOptions{Sets: []string{"log.dirs=" + dir, "node.id=2"}})
	if _, err := Open(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "node.id") {
		t.Fatalf("opened node 1's data as node 2: %v", err)
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

func TestBrokerDynamicConfigsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := openBroker(t, dir, nil)
	if _, _, err := b.CreateTopic(TopicSpec{Name: "d", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	v := "2000"
	if err := b.UpdateDynamicConfig(config.SourceDynamicDefaultBrokerConfig, map[string]*string{"message.max.bytes": &v}, false); err != nil {
		t.Fatal(err)
	}
	tp, _ := b.Topic("d")
	if got := tp.AppendConfig().MaxMessageBytes; got != 2000 {
		t.Fatalf("topic did not inherit the dynamic default: %d", got)
	}
	if err := b.UpdateDynamicConfig(config.SourceDynamicDefaultBrokerConfig, map[string]*string{"node.id": &v}, false); err == nil {
		t.Fatal("a read-only key was changed dynamically")
	}
	b.Close()
	b = openBroker(t, dir, nil)
	defer b.Close()
	if got := b.Config().Int("message.max.bytes"); got != 2000 {
		t.Fatalf("dynamic default lost at restart: message.max.bytes=%d", got)
	}
	tp, _ = b.Topic("d")
	if got := tp.AppendConfig().MaxMessageBytes; got != 2000 {
		t.Fatalf("topic after restart: max message bytes %d", got)
	}
}
