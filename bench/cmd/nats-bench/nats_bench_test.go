package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
