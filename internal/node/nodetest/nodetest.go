// Package nodetest starts single-broker nodes for tests of other packages.
package nodetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/node"
)

// Start runs a single-broker node on dir (loopback, a free port) with the
// given key=value settings and returns it once ready; it is stopped when
// the test ends (an earlier Stop is fine: Stop is idempotent).
func Start(t testing.TB, dir string, logger *slog.Logger, sets ...string) *node.Node {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{Sets: append([]string{"log.dirs=" + dir, "listeners=127.0.0.1:0", "metrics.listen="}, sets...)})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(node.Options{Config: cfg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}
