package verify

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/bench"
	"github.com/gregor-dev/gregor/internal/node/nodetest"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startGregor serves an in-process single-broker node and returns its
// address.
func startGregor(t *testing.T) string {
	t.Helper()
	return nodetest.Start(t, t.TempDir(), testLogger(t), "group.initial.rebalance.delay.ms=0").Addr()
}

// testConfig is a short run: 2 producers, 2 plain consumers, a group of
// 2, 3 partitions, about a second and a half of records.
func testConfig(t *testing.T, addr string) Config {
	return Config{
		Brokers:      []string{addr},
		Topic:        "verify",
		Partitions:   3,
		Duration:     1500 * time.Millisecond,
		Rate:         400,
		Producers:    2,
		Consumers:    2,
		Group:        "verify-group",
		Acks:         bench.AcksAll,
		Timeout:      10 * time.Second,
		DrainTimeout: 3 * time.Second,
		Logger:       testLogger(t),
	}
}

func runCheck(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	r := Check(h)
	t.Logf("sent %d acknowledged %d failed %d indeterminate %d reads %d values read %d commits %d",
		r.Sent, r.Acknowledged, r.Failed, r.Indeterminate, r.Reads, r.ValuesRead, len(h.Commits))
	for _, a := range r.Anomalies {
		if a.Count > 0 {
			t.Logf("%s: %d %q", a.Kind, a.Count, a.Examples)
		}
	}
	if r.Acknowledged == 0 {
		t.Fatalf("nothing acknowledged")
	}
	return r
}

func TestVerifyRunCleanAgainstGregor(t *testing.T) {
	addr := startGregor(t)
	for _, idempotent := range []bool{false, true} {
		cfg := testConfig(t, addr)
		cfg.Idempotent = idempotent
		r := runCheck(t, cfg)
		if !r.OK {
			t.Errorf("idempotent=%v: anomalies in a clean run", idempotent)
		}
		if r.Acknowledged != r.Sent {
			t.Errorf("idempotent=%v: %d of %d acknowledged", idempotent, r.Acknowledged, r.Sent)
		}
		// Each value read by 2 consumers, the group and the final read.
		if r.ValuesRead != r.Acknowledged || r.Reads < 4*r.Acknowledged {
			t.Errorf("idempotent=%v: %d values read, %d reads, of %d acknowledged", idempotent, r.ValuesRead, r.Reads, r.Acknowledged)
		}
	}
}

func TestVerifyRunRefusedTransactions(t *testing.T) {
	addr := startGregor(t)
	cfg := testConfig(t, addr)
	cfg.Transactional = true
	start := time.Now()
	_, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrNoTransactions) {
		t.Fatalf("Run: %v, want ErrNoTransactions", err)
	}
	t.Logf("%v (after %v)", err, time.Since(start))
}
