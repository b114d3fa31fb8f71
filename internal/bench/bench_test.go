package bench

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/node/nodetest"
)

// startBroker serves an in-process broker on a loopback port with a fresh
// data directory and the given key=value settings, shut down when the test
// ends, and returns its address.
func startBroker(t *testing.T, sets ...string) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return nodetest.Start(t, t.TempDir(), logger, sets...).Addr()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

func testCommon(t *testing.T, addr, topic string) Common {
	return Common{
		Brokers:      []string{addr},
		Topic:        topic,
		Partitions:   2,
		RecordSize:   1024,
		DrainTimeout: 10 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkLatency asserts a latency summary has count samples, positive and
// ordered percentiles.
func checkLatency(t *testing.T, name string, s *LatencySummary, count int64) {
	t.Helper()
	if s == nil {
		t.Fatalf("%s: no latency summary", name)
	}
	if s.Count != count {
		t.Errorf("%s: %d samples, want %d", name, s.Count, count)
	}
	if !(0 < s.P50 && s.P50 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
		t.Errorf("%s: percentiles not positive and ordered: %+v", name, *s)
	}
}

func checkExact(t *testing.T, res *Result, err error, records int64, size int) {
	t.Helper()
	if err != nil || res == nil {
		t.Fatalf("run failed: %v", err)
	}
	if res.Records != records || res.Bytes != records*int64(size) || res.Errors != 0 || res.StoppedEarly != "" {
		t.Fatalf("%s: records %d bytes %d errors %d (%v) stopped %q; want %d, %d, 0, complete",
			res.Workload, res.Records, res.Bytes, res.Errors, res.ErrorKinds, res.StoppedEarly, records, records*int64(size))
	}
	if res.DurationS <= 0 || res.RecordsPerS <= 0 || res.MBPerS <= 0 {
		t.Fatalf("%s: duration %g s, %g records/s, %g MiB/s; want positive", res.Workload, res.DurationS, res.RecordsPerS, res.MBPerS)
	}
}

func TestBenchProduceConsumeE2E(t *testing.T) {
	addr := startBroker(t)
	ctx := testCtx(t)
	const topic = "bench-it"

	// Closed-loop produce of exactly 2000 records, acks=all, idempotent.
	res, err := RunProduce(ctx, ProduceConfig{Common: with(testCommon(t, addr, topic), 2000, 0), Acks: AcksAll, Idempotent: true})
	checkExact(t, res, err, 2000, 1024)
	checkLatency(t, "produce ack", res.Latency, 2000)

	// The topic holds exactly those 2000: asking for 2000 reads them all...
	res, err = RunConsume(ctx, ConsumeConfig{Common: with(testCommon(t, addr, topic), 2000, 0)})
	checkExact(t, res, err, 2000, 1024)
	if res.Latency != nil {
		t.Errorf("consume reports produce latency %+v", res.Latency)
	}
	// ...and asking for one more finds the end of the topic.
	c := with(testCommon(t, addr, topic), 2001, 0)
	c.DrainTimeout = time.Second
	res, err = RunConsume(ctx, ConsumeConfig{Common: c})
	if err != nil || res.Records != 2000 || res.StoppedEarly == "" {
		t.Fatalf("consume past the end: records %d stopped %q err %v; want 2000, stopped early", res.Records, res.StoppedEarly, err)
	}

	// Open loop at 2000 records/s for 1 s: exactly 2000 records, each
	// received by the in-process consumer, which starts after the 2000
	// already in the topic.
	res, err = RunE2E(ctx, E2EConfig{ProduceConfig: ProduceConfig{
		Common: with(testCommon(t, addr, topic), 0, time.Second), Acks: AcksAll, Idempotent: true, Rate: 2000}})
	checkExact(t, res, err, 2000, 1024)
	if *res.ProducedRecords != 2000 || *res.ConsumedRecords != 2000 {
		t.Fatalf("e2e produced %d consumed %d, want 2000 each", *res.ProducedRecords, *res.ConsumedRecords)
	}
	checkLatency(t, "e2e produce ack", res.Latency, 2000)
	checkLatency(t, "e2e end-to-end", res.E2ELatency, 2000)
}

func TestBenchProduceOptionsAndWarmup(t *testing.T) {
	addr := startBroker(t)
	ctx := testCtx(t)

	// Two producers, acks=1, keys, lz4, small records: the shared schedule
	// still stops at exactly 1000 measured records.
	c := with(testCommon(t, addr, "bench-opts"), 1000, 0)
	c.RecordSize = HeaderSize
	res, err := RunProduce(ctx, ProduceConfig{Common: c, Acks: AcksLeader, Producers: 2, Keys: 7,
		Compression: "lz4", Linger: time.Millisecond, MaxInflight: 3})
	checkExact(t, res, err, 1000, HeaderSize)
	checkLatency(t, "acks=1 produce", res.Latency, 1000)

	// Warm-up at 1000/s for 300 ms, then 300 ms measured: 300 warm-up
	// records are produced and consumed but not measured.
	c = with(testCommon(t, addr, "bench-warm"), 0, 300*time.Millisecond)
	c.Warmup = 300 * time.Millisecond
	res, err = RunE2E(ctx, E2EConfig{ProduceConfig: ProduceConfig{Common: c, Acks: AcksLeader, Rate: 1000}})
	checkExact(t, res, err, 300, 1024)
	if *res.ProducedRecords != 600 || *res.ConsumedRecords != 600 {
		t.Fatalf("produced %d consumed %d, want 600 each (warm-up included)", *res.ProducedRecords, *res.ConsumedRecords)
	}
	checkLatency(t, "warm e2e ack", res.Latency, 300)
	checkLatency(t, "warm e2e end-to-end", res.E2ELatency, 300)
}

func TestBenchConsumeMissingTopic(t *testing.T) {
	addr := startBroker(t)
	_, err := RunConsume(testCtx(t), ConsumeConfig{Common: with(testCommon(t, addr, "bench-absent"), 10, 0)})
	if !errors.Is(err, ErrTopicMissing) {
		t.Fatalf("consume of a missing topic: %v, want ErrTopicMissing", err)
	}
}

func TestBenchProduceUnreachableBrokerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := RunProduce(ctx, ProduceConfig{Common: with(testCommon(t, addr, "bench-none"), 10, 0)})
	if err == nil {
		t.Fatalf("produce to a closed port succeeded: %+v", res)
	}
}

// with sets the run length of c.
func with(c Common, records int64, duration time.Duration) Common {
	c.Records, c.Duration = records, duration
	return c
}
