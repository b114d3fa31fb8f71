package handlers_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/handlers"
	"github.com/gregor-dev/gregor/internal/node"
	"github.com/gregor-dev/gregor/internal/node/nodetest"
)

// testBroker is an in-process node (a one-voter metadata quorum) served on
// a loopback port.
type testBroker struct {
	addr string
	n    *node.Node
	b    *broker.Broker
	h    *handlers.Handlers
	cfg  *config.Broker
	dir  string
}

// startBroker runs a broker on a fresh data directory with the given
// key=value settings; it is shut down when the test ends.
func startBroker(t testing.TB, sets ...string) *testBroker {
	t.Helper()
	return startBrokerIn(t, t.TempDir(), sets...)
}

func startBrokerIn(t testing.TB, dir string, sets ...string) *testBroker {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n := nodetest.Start(t, dir, logger, sets...)
	return &testBroker{addr: n.Addr(), n: n, b: n.Broker(), h: n.Handlers(), cfg: n.Broker().Config(), dir: dir}
}

func (tb *testBroker) stop() {
	if tb.n != nil {
		tb.n.Stop()
		tb.n = nil
	}
}

// client returns a franz-go client for the broker, closed at the end.
func (tb *testBroker) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (tb *testBroker) admin(t testing.TB) *kadm.Client {
	return kadm.NewClient(tb.client(t))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
