package server_test

// Exhaustion tests against a whole in-process broker (package node): many
// idle connections, and a flood of Metadata requests next to a producer.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/node"
	"github.com/gregor-dev/gregor/internal/node/nodetest"
)

// startNode runs a broker on a fresh directory, logging warnings to stderr.
func startNode(t testing.TB, sets ...string) *node.Node {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return nodetest.Start(t, t.TempDir(), logger, sets...)
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopics(t testing.TB, addr string, partitions int32, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, addr))
	resps, err := adm.CreateTopics(ctx, partitions, 1, nil, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
}

// roundTrip writes one request frame and reads the response frame.
func roundTrip(c net.Conn, frame []byte, buf []byte) ([]byte, error) {
	if _, err := c.Write(frame); err != nil {
		return buf, err
	}
	return readResponse(c, buf)
}

func readResponse(r io.Reader, buf []byte) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return buf, err
	}
	buf = slices.Grow(buf[:0], int(binary.BigEndian.Uint32(sz[:])))[:binary.BigEndian.Uint32(sz[:])]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// metadataFrame is a Metadata request for all topics at version v.
func metadataFrame(v int16, corr int32) []byte {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(v)
	req.Topics = nil
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("flood")).AppendRequest(nil, req, corr)
}

// latencies collects durations and reports percentiles.
type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// flood opens conns connections to addr that each send all-topics
// Metadata requests as fast as the socket takes them, pipelined, reading
// the answers, until stop closes; answered counts the answers. It returns
// once all connections are open; wg is done when they are closed.
func flood(addr string, conns int, stop <-chan struct{}, answered *atomic.Int64, wg *sync.WaitGroup) error {
	frame := metadataFrame(12, 1)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			defer c.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(frame); err != nil {
					return
				}
			}
		}()
		go func() { // reader
			defer wg.Done()
			var buf []byte
			for {
				var err error
				if buf, err = readResponse(c, buf); err != nil {
					return
				}
				answered.Add(1)
			}
		}()
	}
	return nil
}

// startChild runs this test binary's test named test in a child process
// with env added, until the test ends (stdin closes: the helper stops);
// it returns the child's stdin and lines of its stdout.
func startChild(tb testing.TB, test string, env ...string) (io.WriteCloser, *bufio.Scanner) {
	tb.Helper()
	child := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	child.Env = append(os.Environ(), env...)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := child.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdin.Close(); child.Wait() })
	return stdin, bufio.NewScanner(stdout)
}

// floodHelperEnv names the broker address for the child process of
// BenchmarkServerMetadataFlood that floods it.
const floodHelperEnv = "GREGOR_TEST_METADATA_FLOOD_TO"

// TestServerMetadataFloodHelper is the flooding child process of
// BenchmarkServerMetadataFlood (it does nothing run alone): it floods,
// says "ready", answers each line on stdin with the answers counted so
// far, and stops when stdin closes.
func TestServerMetadataFloodHelper(t *testing.T) {
	addr := os.Getenv(floodHelperEnv)
	if addr == "" {
		t.Skip("the child process of BenchmarkServerMetadataFlood")
	}
	var conns int
	fmt.Sscan(os.Getenv(floodHelperEnv+"_N"), &conns)
	var answered atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if err := flood(addr, conns, stop, &answered, &wg); err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Println(answered.Load())
	}
	close(stop)
}

// BenchmarkServerMetadataFlood runs 64 connections that send Metadata (all
// of 21 topics of 8 partitions) as fast as the broker answers, each with
// requests pipelined, next to one franz-go producer at acks=1 producing one
// record at a time, and reports the producer's latency percentiles, the
// flood's rate and this process's peak RSS. One op is one produced record.
// The flood runs in this process (its client goroutines compete with the
// broker's for the same scheduler) or, closer to many separate clients, in
// a child process.
func BenchmarkServerMetadataFlood(b *testing.B) {
	for _, mode := range []string{"none", "in-process", "child-process"} {
		b.Run("flood="+mode, func(b *testing.B) {
			const flooders = 64
			n := startNode(b)
			var topics []string
			for i := range 20 {
				topics = append(topics, fmt.Sprintf("meta-%02d", i))
			}
			createTopics(b, n.Addr(), 8, append(topics, "produce")...)
			cl := newClient(b, n.Addr(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
				kgo.DefaultProduceTopic("produce"), kgo.ProducerLinger(0))
			ctx := context.Background()
			if err := cl.ProduceSync(ctx, kgo.StringRecord("warm-up")).FirstErr(); err != nil {
				b.Fatal(err)
			}

			var answered atomic.Int64
			count := func() int64 { return answered.Load() }
			stop := make(chan struct{})
			var wg sync.WaitGroup
			switch mode {
			case "in-process":
				if err := flood(n.Addr(), flooders, stop, &answered, &wg); err != nil {
					b.Fatal(err)
				}
			case "child-process":
				stdin, lines := startChild(b, "TestServerMetadataFloodHelper",
					floodHelperEnv+"="+n.Addr(), fmt.Sprintf("%s_N=%d", floodHelperEnv, flooders))
				if !lines.Scan() || lines.Text() != "ready" {
					b.Fatalf("flooding child: %q %v", lines.Text(), lines.Err())
				}
				count = func() int64 {
					fmt.Fprintln(stdin)
					var v int64
					if lines.Scan() {
						fmt.Sscan(lines.Text(), &v)
					}
					return v
				}
			}
			time.Sleep(200 * time.Millisecond) // let the flood build up
			lat := make(latencies, 0, b.N)
			before := count()
			start := time.Now()
			for b.Loop() {
				t0 := time.Now()
				if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(lat.percentile(0.50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat.percentile(0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(count()-before)/elapsed.Seconds(), "metadata/s")
			b.ReportMetric(float64(peakRSS(b)>>10), "peak-RSS-MiB")
			close(stop)
			n.Stop()
			wg.Wait()
		})
	}
}

// raiseFileLimit raises the open-file soft limit to at least need, the
// hard limit too if the process may (root); it skips the test if it cannot.
func raiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur >= need {
		return
	}
	lim := syscall.Rlimit{Cur: max(need, min(old.Max, 4*need)), Max: max(old.Max, need)}
	lim.Cur = min(lim.Cur, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("needs %d open files; the limit is %d (hard %d) and cannot be raised: %v", need, old.Cur, old.Max, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// peakRSS is the process's peak resident set (VmHWM), 0 if unknown.
func peakRSS(t testing.TB) (kib int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kib)
		}
	}
	return kib
}

func apiVersionsFrame(corr int32) []byte {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "idle", "1"
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("idle")).AppendRequest(nil, req, corr)
}

// idleHelperEnv names the broker address for the child process of
// TestServerTenThousandIdleConnections that holds the idle connections.
const idleHelperEnv = "GREGOR_TEST_IDLE_CONNECTIONS_TO"

// TestServerIdleConnectionsHelper is the child process of
// TestServerTenThousandIdleConnections (it does nothing run alone): it
// opens the connections, each of which sends one ApiVersions and reads the
// answer, says "ready", then for each line "check" on stdin sends one more
// request on a tenth of them and says "ok", until stdin closes.
func TestServerIdleConnectionsHelper(t *testing.T) {
	addr := os.Getenv(idleHelperEnv)
	if addr == "" {
		t.Skip("the child process of TestServerTenThousandIdleConnections")
	}
	var conns int
	fmt.Sscan(os.Getenv(idleHelperEnv+"_N"), &conns)
	raiseFileLimit(t, uint64(conns)+1024)
	idle := make([]net.Conn, conns)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := w; i < conns; i += 16 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
				idle[i] = c
				if buf, err = roundTrip(c, apiVersionsFrame(int32(i)), buf); err != nil {
					errs <- fmt.Errorf("connection %d: first request: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Println("error", err)
		return
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var buf []byte
		var err error
		for i := 0; i < conns && err == nil; i += 10 {
			buf, err = roundTrip(idle[i], apiVersionsFrame(int32(i)), buf)
		}
		if err != nil {
			fmt.Println("error", err)
			continue
		}
		fmt.Println("ok")
	}
}

// TestServerTenThousandIdleConnections opens 10,000 connections to one
// broker from a child process, each of which sends one request and then
// stays idle, checks that a real client still produces and consumes, that
// the idle connections are still served, and bounds what an idle
// connection costs the broker in heap and goroutine stack.
func TestServerTenThousandIdleConnections(t *testing.T) {
	const conns = 10000
	if raceEnabled {
		t.Skip("the race detector allows 8,128 live goroutines; the broker needs one per connection")
	}
	raiseFileLimit(t, conns+4096)
	n := startNode(t)
	createTopics(t, n.Addr(), 1, "busy")
	cl := newClient(t, n.Addr(), kgo.DefaultProduceTopic("busy"), kgo.ConsumeTopics("busy"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	stdin, lines := startChild(t, "TestServerIdleConnectionsHelper",
		idleHelperEnv+"="+n.Addr(), fmt.Sprintf("%s_N=%d", idleHelperEnv, conns))
	expect := func(want string) {
		t.Helper()
		for lines.Scan() {
			switch line := lines.Text(); {
			case line == want:
				return
			case strings.HasPrefix(line, "error"):
				t.Fatalf("idle connections: %s", line)
			}
		}
		t.Fatalf("idle connections: the child exited before %q: %v", want, lines.Err())
	}
	expect("ready")
	opened := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / conns
	stack := (int64(after.StackInuse) - int64(before.StackInuse)) / conns
	t.Logf("%d connections opened and served in %v; per connection: heap %d B, goroutine stack %d B; peak RSS (VmHWM) %d MiB",
		conns, opened.Round(time.Millisecond), heap, stack, peakRSS(t)>>10)

	// A real client still produces and consumes with them open.
	for i := range 100 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce with %d idle connections open: %v", conns, err)
		}
	}
	var got []string
	for len(got) < 101 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("consume with %d idle connections open: %v", conns, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 101 || got[0] != "before" || got[100] != "99" {
		t.Fatalf("consumed %d records %q … %q, want before, 0 … 99", len(got), got[0], got[len(got)-1])
	}
	// And the idle connections are still served.
	fmt.Fprintln(stdin, "check")
	expect("ok")
	// Measured: 1.2 KiB of heap and a 4 KiB stack (the 64 KiB read buffer
	// an idle connection held before it was pooled made that 67 KiB).
	const bound = 16 << 10
	if heap+stack > bound {
		t.Errorf("an idle connection costs the broker %d B of heap and stack, more than %d", heap+stack, bound)
	}
	t.Logf("peak RSS (VmHWM) of the broker's process at the end: %d MiB", peakRSS(t)>>10)
}
