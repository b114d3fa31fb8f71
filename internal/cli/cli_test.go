package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/gregor-dev/gregor/internal/node"
	"github.com/gregor-dev/gregor/internal/node/nodetest"
)

// testBroker is an in-process single-broker node and the CLI pointed at
// it.
type testBroker struct {
	t    *testing.T
	node *node.Node
	addr string
}

func startBroker(t *testing.T, sets ...string) *testBroker {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// No initial rebalance delay: a group's first member is assigned at once.
	sets = append([]string{"group.initial.rebalance.delay.ms=0"}, sets...)
	n := nodetest.Start(t, t.TempDir(), logger, sets...)
	return &testBroker{t: t, node: n, addr: n.Addr()}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// cliResult is what one command run printed and returned.
type cliResult struct {
	stdout, stderr string
	err            error
}

// newRoot is the command tree main builds, without serve and bench.
func newRoot() *cobra.Command {
	root := &cobra.Command{Use: "gregor", SilenceUsage: true, SilenceErrors: true}
	AddCommands(root)
	return root
}

// run runs the CLI with args (and --brokers) and stdin, bounded by 30 s.
func (b *testBroker) run(stdin string, args ...string) cliResult {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return b.runCtx(ctx, stdin, args...)
}

func (b *testBroker) runCtx(ctx context.Context, stdin string, args ...string) cliResult {
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetArgs(append(args, "--brokers", b.addr))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(ctx)
	return cliResult{stdout: out.String(), stderr: errOut.String(), err: err}
}

// ok runs a command that must succeed and returns its stdout.
func (b *testBroker) ok(stdin string, args ...string) string {
	b.t.Helper()
	r := b.run(stdin, args...)
	if r.err != nil {
		b.t.Fatalf("gregor %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail with an error containing want.
func (b *testBroker) fails(want, stdin string, args ...string) cliResult {
	b.t.Helper()
	r := b.run(stdin, args...)
	if r.err == nil {
		b.t.Fatalf("gregor %s: succeeded, want an error with %q\nstdout:\n%s", strings.Join(args, " "), want, r.stdout)
	}
	if !strings.Contains(r.err.Error(), want) {
		b.t.Fatalf("gregor %s: error %q, want it to contain %q", strings.Join(args, " "), r.err, want)
	}
	return r
}

// okJSON runs a command with --format json and decodes its stdout into v.
func (b *testBroker) okJSON(v any, stdin string, args ...string) {
	b.t.Helper()
	out := b.ok(stdin, append(args, "--format", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		b.t.Fatalf("gregor %s --format json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// jsonLines decodes one JSON value per line.
func jsonLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var vs []T
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		vs = append(vs, v)
	}
	return vs
}

// lines splits output into lines, without the final newline.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
