package handlers

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/server"
)

// testBroker is an in-process broker served on a loopback port.
type testBroker struct {
	addr string
	b    *broker.Broker
	h    *Handlers
	srv  *server.Server
	cfg  *config.Broker
}

// startBroker runs a broker on a fresh data directory with the given
// key=value settings; it is shut down when the test ends.
func startBroker(t testing.TB, sets ...string) *testBroker {
	t.Helper()
	return startBrokerIn(t, t.TempDir(), sets...)
}

func startBrokerIn(t testing.TB, dir string, sets ...string) *testBroker {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{Sets: append([]string{"log.dirs=" + dir}, sets...)})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.Open(cfg, broker.Options{Logger: logger})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	h, err := New(b, ln.Addr().String(), logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(ln, server.Config{MaxRequestSize: cfg.Int("socket.request.max.bytes"), Logger: logger}, h)
	go srv.Serve()
	tb := &testBroker{addr: ln.Addr().String(), b: b, h: h, srv: srv, cfg: cfg}
	t.Cleanup(tb.stop)
	return tb
}

func (tb *testBroker) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tb.srv.Shutdown(ctx)
	tb.b.Close()
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
