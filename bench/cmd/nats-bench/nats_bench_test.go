package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/gregor-dev/gregor/internal/bench"
)

// startJetStream runs an in-process JetStream server on 127.0.0.1 with file
// storage in a temporary directory.
func startJetStream(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

func testConfig(url string) *config {
	return &config{
		server: url, stream: "t", partitions: 3, recordSize: 1024, drainTimeout: 10 * time.Second,
		producers: 2, window: 100, acks: "all", pullBatch: 256,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// TestNatsBenchProduceThenConsume produces a fixed number of records over
// several streams and reads exactly them back.
func TestNatsBenchProduceThenConsume(t *testing.T) {
	cfg := testConfig(startJetStream(t))
	cfg.records = 3000
	ctx := context.Background()
	res, err := runProduce(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3000 || res.Bytes != 3000*1024 || res.Errors != 0 || res.Latency.Count != 3000 {
		t.Fatalf("produce: records %d bytes %d errors %d latency samples %d", res.Records, res.Bytes, res.Errors, res.Latency.Count)
	}
	res, err = runConsume(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3000 || res.Bytes != 3000*1024 || res.StoppedEarly != "" {
		t.Fatalf("consume: records %d bytes %d stopped %q", res.Records, res.Bytes, res.StoppedEarly)
	}
}

// TestNatsBenchE2EOpenLoop runs at a fixed rate: every produced record is
// consumed, and the measured count follows the rate and duration.
func TestNatsBenchE2EOpenLoop(t *testing.T) {
	cfg := testConfig(startJetStream(t))
	cfg.rate, cfg.warmup, cfg.duration = 2000, 200*time.Millisecond, 500*time.Millisecond
	res, err := runE2E(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if *res.ProducedRecords != 1400 || *res.ConsumedRecords != 1400 {
		t.Fatalf("produced %d consumed %d, want 1400 each", *res.ProducedRecords, *res.ConsumedRecords)
	}
	if res.Records != 1000 || res.E2ELatency.Count != 1000 || res.Errors != 0 {
		t.Fatalf("measured %d, e2e samples %d, errors %d; want 1000, 1000, 0", res.Records, res.E2ELatency.Count, res.Errors)
	}
	if res.E2ELatency.P50 <= 0 || res.E2ELatency.P50 > res.E2ELatency.Max {
		t.Fatalf("e2e latency %+v", *res.E2ELatency)
	}
}

// TestNatsBenchAckError reads the error of a JetStream publish reply.
func TestNatsBenchAckError(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{`{"stream":"t-0","seq":7}`, ""},
		{`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"t-0"}`,
			"publish ack error 503: maximum messages exceeded"},
	} {
		if got := ackError(&nats.Msg{Data: []byte(tc.data)}); got != tc.want {
			t.Errorf("ackError(%s) = %q, want %q", tc.data, got, tc.want)
		}
	}
}

// TestNatsBenchWorkload runs a small OMB workload file: 2 topics × 2
// streams, 2 producers, 2 subscriptions × 2 consumers, per topic. Every
// subscription gets every acknowledged message once.
func TestNatsBenchWorkload(t *testing.T) {
	cfg := testConfig(startJetStream(t))
	cfg.stream, cfg.window, cfg.pullBatch = "omb", 4000, 256
	path := filepath.Join(t.TempDir(), "tiny.yaml")
	yaml := `name: tiny
topics: 2
partitionsPerTopic: 2
messageSize: 256
subscriptionsPerTopic: 2
consumerPerSubscription: 2
producersPerTopic: 2
producerRate: 1000
testDurationMinutes: 1
warmupDurationMinutes: 1
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := bench.LoadOMBWorkload(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := w.Plan(bench.OMBOverrides{Duration: time.Second, Warmup: 200 * time.Millisecond, WarmupSet: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := runOMB(context.Background(), cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.StoppedEarly != "" || res.Errors != 0 {
		t.Fatalf("stopped %q, errors %d %v", res.StoppedEarly, res.Errors, res.ErrorKinds)
	}
	// 1000 msg/s over 2 topics for 1.2 s: 600 per topic.
	if *res.ProducedRecords != 1200 || *res.ConsumedRecords != 2*1200 {
		t.Fatalf("produced %d consumed %d, want 1200 and 2400", *res.ProducedRecords, *res.ConsumedRecords)
	}
	if res.Records != 1000 || res.Latency.Count != 1000 || res.E2ELatency.Count != 2*1000 {
		t.Fatalf("measured %d, publish samples %d, e2e samples %d; want 1000, 1000, 2000",
			res.Records, res.Latency.Count, res.E2ELatency.Count)
	}
	if res.E2ELatency.P50 <= 0 || res.E2ELatency.P50 > res.E2ELatency.Max {
		t.Fatalf("e2e latency %+v", *res.E2ELatency)
	}
	o := res.OMB
	if o == nil || len(o.Subscriptions) != 4 || len(o.Topics) != 2 || o.Missing != 0 || o.Duplicates != 0 {
		t.Fatalf("omb summary %+v", o)
	}
	for _, s := range o.Subscriptions {
		if s.Consumers != 2 || s.Produced != 600 || s.Received != 600 || s.Unique != 600 || s.Missing != 0 || s.Duplicates != 0 {
			t.Errorf("subscription %+v: want 2 consumers, 600 produced, received and unique once", s)
		}
	}
	if o.ConsumeRecords == 0 || o.ConsumeRecordsPerS <= 0 {
		t.Errorf("consume side %d records, %g/s", o.ConsumeRecords, o.ConsumeRecordsPerS)
	}
}

// TestNatsBenchWorkloadBacklog pauses the consumers after the warm-up
// until a backlog waits, resumes them, and runs the test duration once it
// is drained; still every message once per subscription.
func TestNatsBenchWorkloadBacklog(t *testing.T) {
	cfg := testConfig(startJetStream(t))
	cfg.stream, cfg.window, cfg.pullBatch = "bl", 4000, 256
	// 3000 messages of 1 KiB: about 1.5 s at 2000 msg/s.
	w := bench.OMBWorkload{Name: "b", Topics: 1, PartitionsPerTopic: 2, MessageSize: 1024, SubscriptionsPerTopic: 2,
		ProducersPerTopic: 2, ConsumerPerSubscription: 2, ProducerRate: 2000, ConsumerBacklogSizeGB: 3000.0 / (1 << 20),
		BacklogDrainRatio: 1, TestDurationMinutes: 1, KeyDistributor: bench.KeyNone}
	plan, err := w.Plan(bench.OMBOverrides{Duration: 500 * time.Millisecond, Warmup: 200 * time.Millisecond, WarmupSet: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := runOMB(context.Background(), cfg, plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.StoppedEarly != "" || res.Errors != 0 {
		t.Fatalf("stopped %q, errors %d %v", res.StoppedEarly, res.Errors, res.ErrorKinds)
	}
	bl := res.OMB.Backlog
	if bl == nil || !bl.Drained || bl.RecordsAtResume < 3000 || bl.BuildS < 0.5 || bl.DrainRecordsPerS <= 0 {
		t.Fatalf("backlog %+v", bl)
	}
	if res.OMB.Missing != 0 || res.OMB.Duplicates != 0 || *res.ConsumedRecords != 2**res.ProducedRecords {
		t.Fatalf("missing %d duplicates %d, produced %d consumed %d", res.OMB.Missing, res.OMB.Duplicates,
			*res.ProducedRecords, *res.ConsumedRecords)
	}
	for _, s := range res.OMB.Subscriptions {
		if s.Unique != s.Produced || s.Received != s.Produced {
			t.Errorf("subscription %+v", s)
		}
	}
}
