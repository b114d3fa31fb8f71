package node

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/storage"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testConfig(t *testing.T, dir string, sets ...string) *config.Broker {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{Sets: append([]string{"log.dirs=" + dir, "listeners=127.0.0.1:0", "metrics.listen=127.0.0.1:0"}, sets...)})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start runs a node on dir until ready; it is stopped at the end of the
// test unless the test stops it first.
func start(t *testing.T, dir string, sets ...string) *Node {
	t.Helper()
	n, err := Start(Options{Config: testConfig(t, dir, sets...), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		n.Stop()
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			n.Stop()
		}
	})
	return n
}

func produceOne(t *testing.T, n *Node, topic string, p int32) int64 {
	t.Helper()
	tp, part, err := n.Broker().Partition(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	raw := recordtest.Simple(2, time.Now().UnixMilli()).Encode()
	h, err := record.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := part.Produce(raw, &h, partition.AcksAll, tp.AppendConfig())
	if err == nil {
		err = ack.Wait(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	return ack.Result.BaseOffset
}

// A single broker keeps its topics (ids, partition counts, configs, data),
// dynamic broker configs, cluster id and producer id range across a
// restart: all of it lives in its one-voter metadata log.
func TestNodeSingleBrokerSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := start(t, dir)
	b := n.Broker()
	tp, _, err := b.CreateTopic(broker.TopicSpec{Name: "a.b", Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	id := tp.ID
	produceOne(t, n, "a.b", 2)
	pid1, err := b.AllocateProducerID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateDynamicConfig("", config.SourceDynamicDefaultBrokerConfig, map[string]string{"message.max.bytes": "2000"}, false); err != nil {
		t.Fatal(err)
	}
	cluster := n.ClusterID()
	if cluster == "" {
		t.Fatal("no cluster id")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	n = start(t, dir)
	b = n.Broker()
	tp, ok := b.Topic("a.b")
	if !ok || tp.ID != id || len(b.Partitions(tp)) != 3 {
		t.Fatalf("topic after restart: %+v ok=%v", tp, ok)
	}
	if v, src := b.TopicConfig(tp).Get("retention.ms"); v != "1000" || src != config.SourceTopicConfig {
		t.Fatalf("config after restart: %s %v", v, src)
	}
	if n.ClusterID() != cluster {
		t.Fatalf("cluster id changed: %s -> %s", cluster, n.ClusterID())
	}
	m, err := readMetaProperties(storage.OS, dir)
	if err != nil || m.ClusterID != cluster || m.NodeID != 1 || len(m.Voters) != 1 || m.Voters[0] != 1 {
		t.Fatalf("meta.properties: %+v %v", m, err)
	}
	if _, p, _ := b.Partition("a.b", 2); p.HighWatermark() != 2 || !p.IsLeader() {
		t.Fatalf("records lost: hw %d, leader %v", p.HighWatermark(), p.IsLeader())
	}
	if pid2, _ := b.AllocateProducerID(context.Background()); pid2 <= pid1 {
		t.Fatalf("producer id reused after restart: %d then %d", pid1, pid2)
	}
	if got := b.Config().Int("message.max.bytes"); got != 2000 {
		t.Fatalf("dynamic default lost at restart: message.max.bytes=%d", got)
	}
	if got := tp.AppendConfig().MaxMessageBytes; got != 2000 {
		t.Fatalf("topic after restart: max message bytes %d", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata", "topics.json")); !os.IsNotExist(err) {
		t.Fatalf("topics.json written: %v", err)
	}
}

// A data directory is served by one process at a time (Kafka's .lock),
// belongs to one node id, and to one metadata quorum: every other start is
// refused, saying what to do.
func TestNodeRefusesForeignDataDir(t *testing.T) {
	dir := t.TempDir()
	n := start(t, dir)
	if _, err := Start(Options{Config: testConfig(t, dir), Logger: quiet}); !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), "process") {
		t.Fatalf("second node on a served directory: %v", err)
	}
	n.Stop()

	_, err := Start(Options{Config: testConfig(t, dir, "node.id=2"), Logger: quiet})
	if !errors.Is(err, ErrDataDirMismatch) || !strings.Contains(err.Error(), "node.id") {
		t.Fatalf("opened node 1's data as node 2: %v", err)
	}
	_, err = Start(Options{Config: testConfig(t, dir, "controller.quorum.voters=1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3", "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"), Logger: quiet})
	if !errors.Is(err, ErrDataDirMismatch) || !strings.Contains(err.Error(), "without --voters") {
		t.Fatalf("single broker's directory started in a cluster: %v", err)
	}

	// A cluster node's directory (meta.properties names its voters)
	// started alone: refused, not served empty.
	cdir := t.TempDir()
	if err := writeMetaProperties(storage.OS, cdir, metaProperties{NodeID: 1, Voters: []int32{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	_, err = Start(Options{Config: testConfig(t, cdir), Logger: quiet})
	if !errors.Is(err, ErrDataDirMismatch) || !strings.Contains(err.Error(), "--voters") {
		t.Fatalf("cluster node's directory started alone: %v", err)
	}
}

// A single broker's data directory from before the metadata log
// (metadata/topics.json) is migrated at its first start: topics keep their
// ids, partitions and data, producer ids stay above what it handed out,
// dynamic configs stay; topics.json is retired.
func TestNodeMigratesLegacyTopics(t *testing.T) {
	dir := t.TempDir()
	id := broker.NewTopicID()
	// A partition written the old way, at leader epoch 0.
	p, err := partition.Open("old", 0, partition.Options{FS: storage.OS, Dir: broker.PartitionDir(dir, "old", 0), NodeID: 1, Logger: quiet,
		Storage: storage.Options{SegmentBytes: 1 << 20, IndexIntervalBytes: 4096, SegmentIndexBytes: 1 << 20, FlushMessages: math.MaxInt64, FlushMs: math.MaxInt64}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.BecomeLeader(0, []int32{1}, []int32{1}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		raw := recordtest.Simple(2, time.Now().UnixMilli()).Encode()
		h, _ := record.Validate(raw)
		cfg := &partition.AppendConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64}
		if _, err := p.Produce(raw, &h, partition.AcksLeader, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	legacy := broker.Legacy{
		Topics:             []broker.LegacyTopic{{Name: "old", ID: id, Partitions: 2, Configs: map[string]string{"retention.ms": "123456"}}},
		ProducerIDBlockEnd: 5000,
		DynamicDefault:     map[string]string{"message.max.bytes": "3000"},
	}
	data, _ := json.Marshal(legacy)
	if err := os.MkdirAll(filepath.Join(dir, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broker.LegacyMetadataPath(dir), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.properties"), []byte("version=1\ncluster.id=oldCluster0000000000A\nnode.id=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	n := start(t, dir)
	check := func(n *Node) {
		t.Helper()
		b := n.Broker()
		tp, ok := b.Topic("old")
		if !ok || tp.ID != id || b.PartitionCount(tp) != 2 {
			t.Fatalf("migrated topic: %+v %v", tp, ok)
		}
		if v, _ := b.TopicConfig(tp).Get("retention.ms"); v != "123456" {
			t.Fatalf("migrated config: %s", v)
		}
		if _, p, _ := b.Partition("old", 0); p.HighWatermark() != 6 || !p.IsLeader() {
			t.Fatalf("migrated data: hw %d leader %v", p.HighWatermark(), p.IsLeader())
		}
		if got := b.Config().Int("message.max.bytes"); got != 3000 {
			t.Fatalf("migrated dynamic default: %d", got)
		}
		if n.ClusterID() != "oldCluster0000000000A" {
			t.Fatalf("cluster id %q", n.ClusterID())
		}
	}
	check(n)
	if pid, _ := n.Broker().AllocateProducerID(context.Background()); pid < 5000 {
		t.Fatalf("producer id %d below the migrated block end", pid)
	}
	if _, err := os.Stat(broker.LegacyMetadataPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("topics.json still there: %v", err)
	}
	n.Stop()
	check(start(t, dir))
}

// A client produces to and consumes from a single broker node: the README's
// first record.
func TestNodeFirstRecord(t *testing.T) {
	n := start(t, t.TempDir())
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.ConsumeTopics("users.notification"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "users.notification", Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Value) != "hello" || recs[0].Offset != 0 {
		t.Fatalf("records %+v", recs)
	}
}
