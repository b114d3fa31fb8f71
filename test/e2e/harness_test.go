// Package e2e runs the gregor binary as a separate process and talks to it
// with real Kafka clients (franz-go, sarama, kafka-go, kcat, librdkafka's and
// kafka-python's Python bindings) and with raw TCP.
//
// TestMain builds the binary once; every test starts its own broker on
// 127.0.0.1 with a fresh data directory, so tests are independent and may run
// in parallel. Broker logs are kept in memory and dumped when a test fails.
//
// External tools that are missing make their tests skip, unless
// GREGOR_REQUIRE_EXTERNAL=1 is set (as CI does), in which case they fail.
// GREGOR_E2E_BINARY=/path/to/gregor tests a prebuilt binary instead of
// building one.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/testutil"
	"github.com/gregor-dev/gregor/test/internal/testproc"
)

// gregorBin is the path of the broker binary built by TestMain.
var gregorBin string

const (
	readyTimeout = 20 * time.Second // start-up until the ready line
	stopTimeout  = 10 * time.Second // SIGTERM until exit
	killTimeout  = 10 * time.Second // SIGKILL until the process is reaped
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin, dir, err := testproc.BuildGregor(os.Getenv("GREGOR_E2E_BINARY"), "gregor-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	if dir != "" {
		defer os.RemoveAll(dir)
	}
	gregorBin = bin
	return m.Run()
}

// statSourcesOnce makes go test's cache notice broker changes (see
// testproc.StatModuleSources); startBroker calls it once, inside m.Run.
var statSourcesOnce = sync.OnceValue(testproc.StatModuleSources)

// brokerConfig collects startBroker's options.
type brokerConfig struct {
	dataDir string
	listen  string
	sets    []string
	args    []string
	env     []string
}

type brokerOpt func(*brokerConfig)

// withDataDir reuses an existing data directory (for restarts).
func withDataDir(dir string) brokerOpt { return func(c *brokerConfig) { c.dataDir = dir } }

// withListen binds a fixed address instead of 127.0.0.1:0 (for restarts).
func withListen(addr string) brokerOpt { return func(c *brokerConfig) { c.listen = addr } }

// withSet adds "--set key=value" arguments.
func withSet(kvs ...string) brokerOpt {
	return func(c *brokerConfig) { c.sets = append(c.sets, kvs...) }
}

// withArgs adds raw command-line arguments after the others.
func withArgs(args ...string) brokerOpt {
	return func(c *brokerConfig) { c.args = append(c.args, args...) }
}

// withEnv adds KEY=value variables to the broker's environment.
func withEnv(kvs ...string) brokerOpt {
	return func(c *brokerConfig) { c.env = append(c.env, kvs...) }
}

// brokerArgs builds the command line for cfg.
func brokerArgs(cfg brokerConfig) []string {
	args := []string{"serve", "--data-dir", cfg.dataDir, "--listen", cfg.listen, "--metrics-listen", "127.0.0.1:0"}
	for _, kv := range cfg.sets {
		args = append(args, "--set", kv)
	}
	return append(args, cfg.args...)
}

// brokerEnv is this process's environment without GREGOR_* variables, plus
// extra. The broker reads GREGOR_<KEY> variables as configuration and
// rejects unknown ones, so the test switches (GREGOR_REQUIRE_EXTERNAL,
// GREGOR_E2E_BINARY) and any configuration in the developer's shell must not
// reach it.
func brokerEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GREGOR_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// brokerProc is one running gregor process.
type brokerProc struct {
	t       *testing.T
	Addr    string // the bound (and advertised) address, host:port
	DataDir string
	// MetricsAddr is the /metrics listener (host:port), from the ready line.
	MetricsAddr string
	cmd         *exec.Cmd
	logs        *syncBuffer

	done    chan struct{} // closed once the process has been reaped
	waitErr error         // cmd.Wait's result, valid after done is closed
}

var (
	readyAddrRE   = regexp.MustCompile(`\baddr=("?)(127\.0\.0\.1:[0-9]+)`)
	readyMetricRE = regexp.MustCompile(`\bmetrics=(127\.0\.0\.1:[0-9]+)`)
)

// startBroker starts gregor and waits for its ready line. The process is
// killed when the test ends if it is still running, and its log is dumped
// when the test has failed.
func startBroker(t *testing.T, opts ...brokerOpt) *brokerProc {
	t.Helper()
	if err := statSourcesOnce(); err != nil {
		t.Fatalf("stat module sources: %v", err)
	}
	cfg := brokerConfig{listen: "127.0.0.1:0"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.dataDir == "" {
		cfg.dataDir = t.TempDir()
	}
	args := brokerArgs(cfg)
	p := &brokerProc{
		t:       t,
		DataDir: cfg.dataDir,
		logs:    &syncBuffer{},
		done:    make(chan struct{}),
	}
	p.cmd = exec.Command(gregorBin, args...)
	p.cmd.Env = brokerEnv(cfg.env)
	p.cmd.Stdout = p.logs
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatalf("stderr pipe: %v", err)
	}
	fmt.Fprintf(p.logs, "### gregor %s\n", strings.Join(args, " "))
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting gregor: %v", err)
	}

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.logs, line)
			if !sent && strings.Contains(line, `msg="broker ready"`) {
				if m := readyMetricRE.FindStringSubmatch(line); m != nil {
					p.MetricsAddr = m[1]
				}
				if m := readyAddrRE.FindStringSubmatch(line); m != nil {
					ready <- m[2]
					sent = true
				}
			}
		}
		// Drain whatever the scanner refused (an over-long line) so
		// that the process never blocks on a full pipe.
		_, _ = io.Copy(p.logs, stderr)
		p.waitErr = p.cmd.Wait()
		fmt.Fprintf(p.logs, "### gregor exited: %v\n", p.waitErr)
		close(p.done)
	}()

	t.Cleanup(func() {
		if p.running() && t.Failed() {
			// A Go process dumps every goroutine's stack on SIGQUIT:
			// that shows where a broker that stopped answering is stuck.
			fmt.Fprintln(p.logs, "### test failed with gregor running: sending SIGQUIT for a goroutine dump")
			_ = p.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
			}
		}
		if p.running() {
			_ = p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(killTimeout):
			}
		}
		if t.Failed() {
			t.Logf("gregor log (data dir %s):\n%s", p.DataDir, p.logs.Tail(800))
		}
	})

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case addr := <-ready:
		p.Addr = addr
	case <-p.done:
		t.Fatalf("gregor exited before it was ready: %v", p.waitErr)
	case <-timer.C:
		t.Fatalf("gregor printed no ready line with an addr= within %v", readyTimeout)
	}
	if cfg.listen != "127.0.0.1:0" && p.Addr != cfg.listen {
		t.Fatalf("gregor is ready on %s, asked to listen on %s", p.Addr, cfg.listen)
	}
	return p
}

// restart starts a new broker process on the same data directory and
// address (the previous one must have exited).
func (p *brokerProc) restart(t *testing.T, opts ...brokerOpt) *brokerProc {
	t.Helper()
	if p.running() {
		t.Fatalf("restart: previous broker on %s is still running", p.Addr)
	}
	opts = append([]brokerOpt{withDataDir(p.DataDir), withListen(p.Addr)}, opts...)
	return startBroker(t, opts...)
}

func (p *brokerProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and asserts a clean exit (status 0) within stopTimeout.
func (p *brokerProc) Stop() {
	p.t.Helper()
	p.stopWith(syscall.SIGTERM)
}

// Interrupt is Stop with SIGINT.
func (p *brokerProc) Interrupt() {
	p.t.Helper()
	p.stopWith(syscall.SIGINT)
}

func (p *brokerProc) stopWith(sig syscall.Signal) {
	p.t.Helper()
	if !p.running() {
		p.t.Fatalf("stopping: gregor had already exited: %v", p.waitErr)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%v: %v", sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("gregor did not exit within %v of %v", stopTimeout, sig)
	}
	if p.waitErr != nil {
		p.t.Fatalf("gregor exited uncleanly after %v: %v", sig, p.waitErr)
	}
}

// Kill sends SIGKILL and waits for the process to be reaped.
func (p *brokerProc) Kill() {
	p.t.Helper()
	if !p.running() {
		p.t.Fatalf("Kill: gregor had already exited: %v", p.waitErr)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(killTimeout):
		p.t.Fatalf("gregor was not reaped within %v of SIGKILL", killTimeout)
	}
}

// assertRunning fails t if the broker process has exited.
func (p *brokerProc) assertRunning(t *testing.T) {
	t.Helper()
	if !p.running() {
		t.Fatalf("gregor exited unexpectedly: %v", p.waitErr)
	}
}

// checkFor polls fn until it returns nil, failing the test after timeout.
func checkFor(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	testutil.EventuallyEvery(t, timeout, 500*time.Millisecond, fn)
}

// syncBuffer is a log buffer safe for concurrent use.
type syncBuffer = testproc.SyncBuffer

// failureLog returns a buffer that is logged under name if the test fails;
// client libraries' loggers write into it.
func failureLog(t *testing.T, name string) *syncBuffer {
	b := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() && b.String() != "" {
			t.Logf("%s log:\n%s", name, b.Tail(200))
		}
	})
	return b
}

// requireExternal reports whether missing external tools fail tests
// instead of skipping them.
func requireExternal() bool { return testproc.RequireExternal() }

// skipOrFail skips the test, or fails it under GREGOR_REQUIRE_EXTERNAL=1.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	testproc.SkipOrFail(t, format, args...)
}

// testContext returns a context cancelled after d or when the test ends.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// runCmd runs an external command with a deadline, returning its stdout and
// stderr; err is non-nil on a non-zero exit or a timeout.
func runCmd(ctx context.Context, stdin []byte, name string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stdout = &out
	cmd.Stderr = &errb
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctxErr := ctx.Err(); err != nil && ctxErr != nil {
		err = errors.Join(err, ctxErr)
	}
	return out.String(), errb.String(), err
}
