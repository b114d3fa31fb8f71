package cluster

// The cluster harness: TestMain builds the gregor binary once; startCluster
// runs N gregor processes on 127.0.0.1, each with its own data directory,
// a real Kafka port and a real controller (Raft) port, both fronted by a
// FaultProxy. Every address a node gives to others (--advertise, and its
// entry in everyone's --voters) is a proxy's, so isolating a node needs no
// help from the kernel: cut its two proxies, and on every other proxy
// block the connections the node itself opened. Which process opened a
// connection is read from /proc (see peerProcess), so isolation also works
// for the connections the node dials out.
//
// Processes keep their ports and data directories across restarts, so a
// restarted node is the same node to the cluster. Logs are kept per node
// across restarts; when a test fails, running nodes get SIGQUIT (a
// goroutine dump), the last lines of every node's log are printed and the
// full logs are written to a directory that is kept.
//
// The binary is built once per run, on first use; GREGOR_CLUSTER_BINARY=
// /path/to/gregor tests a prebuilt one instead.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/testutil"
	"github.com/gregor-dev/gregor/test/internal/testproc"
)

const (
	readyTimeout   = 30 * time.Second // process start until its ready line
	stopTimeout    = 20 * time.Second // SIGTERM until exit (controlled shutdown included)
	reapTimeout    = 10 * time.Second // SIGKILL until the process is reaped
	clusterTimeout = 30 * time.Second // all ready lines until Metadata shows the cluster
)

// fastSets are the broker settings every cluster starts with, so that
// failures are detected in seconds; tests add or override with withSet.
var fastSets = []string{
	"broker.session.timeout.ms=3000",
	"broker.heartbeat.interval.ms=300",
	"replica.lag.time.max.ms=3000",
}

// binDir holds the binary built for this run; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// gregorBinary builds the broker binary once per test binary run, on first
// use (so the proxy's unit tests run even when the broker does not build),
// or returns GREGOR_CLUSTER_BINARY.
var gregorBinary = sync.OnceValues(func() (string, error) {
	bin, dir, err := testproc.BuildGregor(os.Getenv("GREGOR_CLUSTER_BINARY"), "gregor-cluster-bin-")
	binDir = dir
	return bin, err
})

// touchSources makes go test's cache notice broker changes (see
// testproc.StatModuleSources); called from inside m.Run.
var touchSources = sync.OnceValue(testproc.StatModuleSources)

// clusterConfig collects startCluster's options.
type clusterConfig struct {
	sets            []string
	cutMode         CutMode
	observers       int
	refuseWhileDown bool
	syncJournal     bool
}

// withSyncJournal runs every node with --sync-journal, so that PowerLoss can
// cut its data back to what it had fsynced.
func withSyncJournal() clusterOpt { return func(c *clusterConfig) { c.syncJournal = true } }

type clusterOpt func(*clusterConfig)

// withCutMode sets what Isolate does to connections (CutClose by default:
// reset at once; CutBlackHole: silence, so that only timeouts notice).
func withCutMode(m CutMode) clusterOpt {
	return func(c *clusterConfig) { c.cutMode = m }
}

// withObservers makes the last k nodes brokers outside --voters: they
// join the metadata log as Raft non-voters.
func withObservers(k int) clusterOpt {
	return func(c *clusterConfig) { c.observers = k }
}

// withRefuseWhileDown makes a node's proxies refuse connections while its
// process is down (from Kill or Stop until Restart), as a host with
// nothing on the port does, instead of accepting and resetting them.
func withRefuseWhileDown() clusterOpt {
	return func(c *clusterConfig) { c.refuseWhileDown = true }
}

// withSet adds --set key=value to every node (after fastSets, so it
// overrides them).
func withSet(kvs ...string) clusterOpt {
	return func(c *clusterConfig) { c.sets = append(c.sets, kvs...) }
}

// cluster is N gregor nodes, ids 1..N.
type cluster struct {
	t     *testing.T
	bin   string
	start time.Time
	nodes []*node
	sets  []string
	// refuseWhileDown: see withRefuseWhileDown
	refuseWhileDown bool
	syncJournal     bool // see withSyncJournal

	admOnce sync.Once
	adm     *kadm.Client
}

// node is one gregor node: its fixed ports, data directory and proxies,
// and the process currently (or last) running it.
type node struct {
	c           *cluster
	ID          int32
	DataDir     string
	KafkaListen string // the real Kafka listener, 127.0.0.1:port
	CtrlListen  string // the real controller (Raft) listener
	kafkaProxy  *FaultProxy
	ctrlProxy   *FaultProxy
	logs        *logBuffer
	observer    bool // not in --voters

	mu       sync.Mutex // guards proc, isolated and direct
	proc     *process
	isolated bool
	direct   *kgo.Client // seeded with this node only; see directClient
}

// process is one run of a node's binary.
type process struct {
	cmd     *exec.Cmd
	ready   chan struct{} // closed at the "broker ready" line
	done    chan struct{} // closed once reaped
	waitErr error         // valid after done
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// KafkaAddr is the address clients and other nodes use: the proxy's.
func (n *node) KafkaAddr() string { return n.kafkaProxy.Addr() }

// CtrlAddr is the node's controller address in --voters: the proxy's.
func (n *node) CtrlAddr() string { return n.ctrlProxy.Addr() }

func (n *node) String() string { return fmt.Sprintf("node %d", n.ID) }

// Running reports whether the node's process is up.
func (n *node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && n.proc.running()
}

func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || !n.proc.running() {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// startCluster starts an n-node cluster and waits until Metadata lists
// every node and a controller among them. Everything is torn down when the
// test ends.
func startCluster(t *testing.T, n int, opts ...clusterOpt) *cluster {
	t.Helper()
	if err := touchSources(); err != nil {
		t.Fatalf("stat module sources: %v", err)
	}
	bin, err := gregorBinary()
	if err != nil {
		t.Fatal(err)
	}
	cfg := clusterConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	c := &cluster{t: t, bin: bin, start: time.Now(), sets: append(slices.Clone(fastSets), cfg.sets...), refuseWhileDown: cfg.refuseWhileDown, syncJournal: cfg.syncJournal}
	ports := freePorts(t, 2*n)
	for i := range n {
		c.nodes = append(c.nodes, &node{
			c:           c,
			ID:          int32(i + 1),
			DataDir:     t.TempDir(),
			KafkaListen: fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			CtrlListen:  fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
			logs:        &logBuffer{},
			observer:    i >= n-cfg.observers,
		})
	}
	// Proxies only once c.nodes is complete: a proxy classifies each
	// connection it accepts by reading c.nodes.
	for _, nd := range c.nodes {
		if nd.kafkaProxy, err = NewFaultProxy(nd.KafkaListen, WithClassify(c.classify), WithCutMode(cfg.cutMode)); err != nil {
			t.Fatal(err)
		}
		if nd.ctrlProxy, err = NewFaultProxy(nd.CtrlListen, WithClassify(c.classify), WithCutMode(cfg.cutMode)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.teardown)

	for _, nd := range c.nodes {
		nd.spawn()
	}
	for _, nd := range c.nodes {
		nd.waitReady()
	}
	c.waitBrokers(clusterTimeout, c.ids()...)
	c.logf("cluster of %d ready", n)
	return c
}

// freePorts returns n distinct ports for the nodes' real listeners, free a
// moment ago, chosen below the kernel's ephemeral port range: the proxies
// (on port 0), client connections and anything else that binds port 0
// never take them, so a node can bind its ports again when it restarts.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	lo := 32768 // Linux's default ip_local_port_range start
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 11024 {
				lo = v
			}
		}
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for try := 0; len(ports) < n; try++ {
		if try > 1000 {
			t.Fatalf("found only %d free ports below %d", len(ports), lo)
		}
		port := lo - 10000 + rand.IntN(10000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken (or held by us already)
		}
		lns = append(lns, ln)
		ports = append(ports, port)
	}
	return ports
}

func (c *cluster) ids() []int32 {
	var ids []int32
	for _, n := range c.nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// node returns the node with the given id.
func (c *cluster) node(id int32) *node {
	c.t.Helper()
	if id < 1 || int(id) > len(c.nodes) {
		c.t.Fatalf("no node %d in a cluster of %d", id, len(c.nodes))
	}
	return c.nodes[id-1]
}

// others returns the ids of the nodes other than those given.
func (c *cluster) others(ids ...int32) []int32 {
	var out []int32
	for _, n := range c.nodes {
		if !slices.Contains(ids, n.ID) {
			out = append(out, n.ID)
		}
	}
	return out
}

// KafkaAddrs are every node's Kafka (proxy) addresses, the seed list.
func (c *cluster) KafkaAddrs() []string {
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.KafkaAddr())
	}
	return addrs
}

// logf logs a test event to the test and into every node's log, so that
// the dumped logs show what the test did when.
func (c *cluster) logf(format string, args ...any) {
	c.t.Helper()
	msg := fmt.Sprintf(format, args...)
	c.t.Logf("[%6.2fs] %s", time.Since(c.start).Seconds(), msg)
	stamp := time.Now().Format("15:04:05.000")
	for _, n := range c.nodes {
		fmt.Fprintf(n.logs, "### %s test: %s\n", stamp, msg)
	}
}

// args is the node's command line.
func (n *node) args() []string {
	var voters []string
	for _, o := range n.c.nodes {
		if !o.observer {
			voters = append(voters, fmt.Sprintf("%d@%s", o.ID, o.CtrlAddr()))
		}
	}
	args := []string{"serve",
		"--node-id", strconv.Itoa(int(n.ID)),
		"--data-dir", n.DataDir,
		"--listen", n.KafkaListen,
		"--advertise", n.KafkaAddr(),
		"--controller-listen", n.CtrlListen,
		"--voters", strings.Join(voters, ","),
		"--metrics-listen", "127.0.0.1:0",
	}
	if n.c.syncJournal {
		args = append(args, "--sync-journal", n.journal())
	}
	for _, kv := range n.c.sets {
		args = append(args, "--set", kv)
	}
	return args
}

// childEnv is the test's environment without GREGOR_* variables: the broker
// reads those as configuration and rejects unknown ones.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GREGOR_") {
			env = append(env, kv)
		}
	}
	return env
}

// spawn starts the node's process without waiting for it to be ready.
func (n *node) spawn() {
	t := n.c.t
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && n.proc.running() {
		t.Fatalf("%v: start: already running", n)
	}
	if err := n.listen(); err != nil {
		t.Fatalf("%v: %v", n, err)
	}
	args := n.args()
	p := &process{
		cmd:   exec.Command(n.c.bin, args...),
		ready: make(chan struct{}),
		done:  make(chan struct{}),
	}
	p.cmd.Env = childEnv()
	p.cmd.Stdout = n.logs
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(n.logs, "### %s gregor %s\n", time.Now().Format("15:04:05.000"), strings.Join(args, " "))
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%v: starting gregor: %v", n, err)
	}
	n.proc = p
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		readySeen := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(n.logs, line)
			if !readySeen && strings.Contains(line, `msg="broker ready"`) {
				readySeen = true
				close(p.ready)
			}
		}
		_, _ = io.Copy(n.logs, stderr) // after an over-long line: never block the child
		p.waitErr = p.cmd.Wait()
		fmt.Fprintf(n.logs, "### %s gregor exited: %v\n", time.Now().Format("15:04:05.000"), p.waitErr)
		close(p.done)
	}()
}

func (n *node) current() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// waitReady waits for the current process's ready line.
func (n *node) waitReady() {
	t := n.c.t
	t.Helper()
	p := n.current()
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("%v exited before it was ready: %v", n, p.waitErr)
	case <-time.After(readyTimeout):
		t.Fatalf("%v printed no ready line within %v", n, readyTimeout)
	}
}

// Kill sends SIGKILL to node id and waits until it is reaped.
func (c *cluster) Kill(id int32) {
	c.t.Helper()
	n := c.node(id)
	p := n.current()
	if p == nil || !p.running() {
		c.t.Fatalf("Kill: %v is not running", n)
	}
	c.logf("SIGKILL %v", n)
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(reapTimeout):
		c.t.Fatalf("%v not reaped within %v of SIGKILL", n, reapTimeout)
	}
	n.refuse()
}

// refuse makes the node's proxies refuse connections, under
// withRefuseWhileDown; listen undoes it.
func (n *node) refuse() {
	if !n.c.refuseWhileDown {
		return
	}
	for _, p := range []*FaultProxy{n.kafkaProxy, n.ctrlProxy} {
		if err := p.Refuse(); err != nil {
			n.c.t.Errorf("%v: proxy %s: %v", n, p.Addr(), err)
		}
	}
}

func (n *node) listen() error {
	for _, p := range []*FaultProxy{n.kafkaProxy, n.ctrlProxy} {
		if err := p.Listen(); err != nil {
			return err
		}
	}
	return nil
}

// Stop sends SIGTERM to node id and waits for a clean exit.
func (c *cluster) Stop(id int32) {
	c.t.Helper()
	n := c.node(id)
	p := n.current()
	if p == nil || !p.running() {
		c.t.Fatalf("Stop: %v is not running", n)
	}
	c.logf("SIGTERM %v", n)
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		c.t.Errorf("%v did not exit within %v of SIGTERM; sending SIGQUIT", n, stopTimeout)
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		c.t.FailNow()
	}
	n.refuse()
	if p.waitErr != nil {
		c.t.Errorf("%v exited uncleanly after SIGTERM: %v", n, p.waitErr)
	}
	c.logf("%v stopped in %v", n, time.Since(start).Round(time.Millisecond))
}

// Restart starts node id again (same ports, same data) and waits for its
// ready line; it does not wait for the cluster to take it back.
func (c *cluster) Restart(id int32) {
	c.t.Helper()
	n := c.node(id)
	c.logf("restart %v", n)
	n.spawn()
	n.waitReady()
}

// Isolate cuts node id off from everyone: its own proxies break every
// connection, open and new (so nobody reaches it, clients included), and
// every other node's proxies do the same to connections the isolated node
// opens. Broken means reset, or black-holed under withCutMode(CutBlackHole).
// The process keeps running.
func (c *cluster) Isolate(id int32) {
	c.t.Helper()
	n := c.node(id)
	c.logf("isolate %v", n)
	n.mu.Lock()
	n.isolated = true
	n.mu.Unlock()
	n.kafkaProxy.Cut()
	n.ctrlProxy.Cut()
	for _, o := range c.nodes {
		if o != n {
			o.kafkaProxy.Block(n.sourceName())
			o.ctrlProxy.Block(n.sourceName())
		}
	}
}

// Heal undoes Isolate.
func (c *cluster) Heal(id int32) {
	c.t.Helper()
	n := c.node(id)
	c.logf("heal %v", n)
	n.mu.Lock()
	n.isolated = false
	n.mu.Unlock()
	for _, o := range c.nodes {
		if o != n {
			o.kafkaProxy.Unblock(n.sourceName())
			o.ctrlProxy.Unblock(n.sourceName())
		}
	}
	n.kafkaProxy.Heal()
	n.ctrlProxy.Heal()
}

// sourceName is how the proxies name connections the node opened.
func (n *node) sourceName() string { return fmt.Sprintf("node%d", n.ID) }

// classify names the process that opened conn (accepted by one of the
// cluster's proxies): "nodeN" for a node, "" for anyone else (the test).
func (c *cluster) classify(conn net.Conn) string {
	pids := map[int]string{}
	for _, n := range c.nodes {
		if pid := n.pid(); pid != 0 {
			pids[pid] = n.sourceName()
		}
	}
	name, _ := peerProcess(conn, pids)
	return name
}

// teardown runs when the test ends: on failure it collects goroutine dumps
// and logs; it always kills every process and closes the proxies.
func (c *cluster) teardown() {
	t := c.t
	failed := t.Failed()
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		p := n.current()
		if p == nil || !p.running() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if failed {
				fmt.Fprintf(n.logs, "### test failed with %v running: SIGQUIT for a goroutine dump\n", n)
				_ = p.cmd.Process.Signal(syscall.SIGQUIT)
				select {
				case <-p.done:
				case <-time.After(5 * time.Second):
				}
			}
			_ = p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(reapTimeout):
				fmt.Fprintf(n.logs, "### %v not reaped within %v of SIGKILL\n", n, reapTimeout)
			}
		}()
	}
	wg.Wait()
	for _, n := range c.nodes {
		n.kafkaProxy.Close()
		n.ctrlProxy.Close()
	}
	if !failed {
		return
	}
	dir, err := os.MkdirTemp("", "gregor-cluster-logs-"+sanitize(t.Name())+"-")
	if err != nil {
		t.Logf("keeping logs: %v", err)
	}
	for _, n := range c.nodes {
		if dir != "" {
			path := filepath.Join(dir, fmt.Sprintf("node%d.log", n.ID))
			if err := os.WriteFile(path, []byte(n.logs.String()), 0o644); err != nil {
				t.Logf("keeping logs: %v", err)
			}
		}
		t.Logf("%v log (data dir %s):\n%s", n, n.DataDir, n.logs.Tail(150))
	}
	if dir != "" {
		t.Logf("full node logs kept in %s", dir)
	}
}

func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, name)
}

// ---- clients and Metadata ----

// clientOpts are franz-go options that notice failures fast: short
// metadata ages, retry backoff and timeouts. The client logs into a buffer
// that is printed if the test fails.
func (c *cluster) clientOpts(name string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(c.KafkaAddrs()...),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.MetadataMaxAge(time.Second),
		kgo.DialTimeout(2 * time.Second),
		kgo.RequestTimeoutOverhead(3 * time.Second),
		kgo.RetryTimeout(20 * time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.WithLogger(kgo.BasicLogger(failureLog(c.t, name), clientLogLevel(), nil)),
	}
}

// clientLogLevel is franz-go's log level: info, or debug when
// GREGOR_CLUSTER_CLIENT_DEBUG=1.
func clientLogLevel() kgo.LogLevel {
	if os.Getenv("GREGOR_CLUSTER_CLIENT_DEBUG") == "1" {
		return kgo.LogLevelDebug
	}
	return kgo.LogLevelInfo
}

// client returns a franz-go client seeded with every node, closed when the
// test ends; opts add to or override clientOpts.
func (c *cluster) client(name string, opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append(c.clientOpts(name), opts...)...)
	if err != nil {
		c.t.Fatalf("kgo.NewClient: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// admin returns the cluster's kadm client (one per cluster, made on first
// use).
func (c *cluster) admin() *kadm.Client {
	c.t.Helper()
	c.admOnce.Do(func() { c.adm = kadm.NewClient(c.client("admin")) })
	return c.adm
}

// metadata asks the cluster for Metadata (of topics, or of all topics).
func (c *cluster) metadata(adm *kadm.Client, topics ...string) (kadm.Metadata, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return adm.Metadata(ctx, topics...)
}

// waitBrokers waits until Metadata lists exactly the given brokers and a
// controller among them, as answered by each of those brokers itself (so
// that no node answers from a stale view, and a node that lists itself
// before the controller has registered it is not taken at its word).
func (c *cluster) waitBrokers(timeout time.Duration, ids ...int32) {
	c.t.Helper()
	want := slices.Sorted(slices.Values(ids))
	checkFor(c.t, timeout, func() error {
		for _, id := range want {
			m, err := c.nodeMetadata(id)
			if err != nil {
				return fmt.Errorf("node %d: %w", id, err)
			}
			var got []int32
			for _, b := range m.Brokers {
				got = append(got, b.NodeID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return errorf("node %d lists brokers %v, want %v", id, got, want)
			}
			if !slices.Contains(want, m.ControllerID) {
				return errorf("node %d: controller %d not among %v", id, m.ControllerID, want)
			}
		}
		return nil
	})
}

// controller returns the current controller (the Raft leader) by Metadata.
func (c *cluster) controller(adm *kadm.Client) int32 {
	c.t.Helper()
	var ctl int32
	checkFor(c.t, 10*time.Second, func() error {
		m, err := c.metadata(adm)
		if err != nil {
			return err
		}
		if m.Controller < 1 {
			return errorf("no controller (%d)", m.Controller)
		}
		ctl = m.Controller
		return nil
	})
	return ctl
}

// createTopic creates a topic and waits until every partition has a leader
// and a full ISR.
func (c *cluster) createTopic(adm *kadm.Client, topic string, partitions int32, rf int16, configs map[string]*string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, rf, configs, topic)
	if err != nil {
		c.t.Fatalf("create topic %s: %v", topic, err)
	}
	if resp.Err != nil {
		c.t.Fatalf("create topic %s: %v %s", topic, resp.Err, resp.ErrMessage)
	}
	c.waitPartitions(adm, 20*time.Second, topic, func(p kadm.PartitionDetail) error {
		if p.Leader < 1 {
			return errorf("no leader")
		}
		if len(p.Replicas) != int(rf) || len(p.ISR) != int(rf) {
			return errorf("replicas %v, isr %v, want %d of each", p.Replicas, p.ISR, rf)
		}
		return nil
	})
}

// waitPartitions waits until ok accepts every partition of topic.
func (c *cluster) waitPartitions(adm *kadm.Client, timeout time.Duration, topic string, ok func(kadm.PartitionDetail) error) kadm.TopicDetail {
	c.t.Helper()
	var td kadm.TopicDetail
	checkFor(c.t, timeout, func() error {
		m, err := c.metadata(adm, topic)
		if err != nil {
			return err
		}
		var found bool
		td, found = m.Topics[topic]
		if !found {
			return errorf("topic %s not in Metadata", topic)
		}
		if td.Err != nil {
			return td.Err
		}
		if len(td.Partitions) == 0 {
			return errorf("topic %s has no partitions", topic)
		}
		for _, p := range td.Partitions.Sorted() {
			if p.Err != nil {
				return fmt.Errorf("partition %d: %w", p.Partition, p.Err)
			}
			if err := ok(p); err != nil {
				return fmt.Errorf("partition %d: %w", p.Partition, err)
			}
		}
		return nil
	})
	return td
}

// partition returns one partition's Metadata, waiting for it to have a
// leader.
func (c *cluster) partition(adm *kadm.Client, topic string, partition int32) kadm.PartitionDetail {
	c.t.Helper()
	td := c.waitPartitions(adm, 10*time.Second, topic, func(p kadm.PartitionDetail) error {
		if p.Partition == partition && p.Leader < 1 {
			return errorf("no leader")
		}
		return nil
	})
	return td.Partitions[partition]
}

// waitISRContains waits until every partition of topic that node id
// replicates has it in its ISR (and a leader).
func (c *cluster) waitISRContains(adm *kadm.Client, timeout time.Duration, topic string, id int32) {
	c.t.Helper()
	c.waitPartitions(adm, timeout, topic, func(p kadm.PartitionDetail) error {
		if p.Leader < 1 {
			return errorf("no leader")
		}
		if slices.Contains(p.Replicas, id) && !slices.Contains(p.ISR, id) {
			return errorf("node %d not in ISR %v (replicas %v)", id, p.ISR, p.Replicas)
		}
		return nil
	})
}

// waitFullISR waits until every partition of topic has a leader and all
// its replicas in the ISR.
func (c *cluster) waitFullISR(adm *kadm.Client, timeout time.Duration, topic string) {
	c.t.Helper()
	c.waitPartitions(adm, timeout, topic, func(p kadm.PartitionDetail) error {
		if p.Leader < 1 {
			return errorf("no leader")
		}
		if len(p.ISR) != len(p.Replicas) {
			return errorf("isr %v, replicas %v", p.ISR, p.Replicas)
		}
		return nil
	})
}

// directClient returns a client seeded with node id's address only, for
// requests that must go to that node (SeedBrokers()[0].Request).
func (c *cluster) directClient(id int32) *kgo.Client {
	c.t.Helper()
	n := c.node(id)
	n.mu.Lock()
	cl := n.direct
	n.mu.Unlock()
	if cl != nil {
		return cl
	}
	cl = c.client(fmt.Sprintf("direct-%d", id), kgo.SeedBrokers(n.KafkaAddr()))
	n.mu.Lock()
	n.direct = cl
	n.mu.Unlock()
	return cl
}

// nodeMetadata asks node id itself for Metadata of topics.
func (c *cluster) nodeMetadata(id int32, topics ...string) (*kmsg.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	for _, tp := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(tp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := c.directClient(id).SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// waitTopicEverywhere waits until every running node answers Metadata for
// topic with all its partitions led (a restarted node may answer before it
// has caught up with the metadata log).
func (c *cluster) waitTopicEverywhere(timeout time.Duration, topic string) {
	c.t.Helper()
	checkFor(c.t, timeout, func() error {
		for _, n := range c.nodes {
			if !n.Running() {
				continue
			}
			m, err := c.nodeMetadata(n.ID, topic)
			if err != nil {
				return fmt.Errorf("%v: %w", n, err)
			}
			if len(m.Topics) != 1 {
				return errorf("%v: %d topics in the answer", n, len(m.Topics))
			}
			mt := m.Topics[0]
			if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
				return fmt.Errorf("%v: topic %s: %w", n, topic, err)
			}
			for _, p := range mt.Partitions {
				if p.Leader < 1 {
					return errorf("%v: %s/%d has no leader", n, topic, p.Partition)
				}
			}
		}
		return nil
	})
}

// ---- small helpers ----

var errorf = fmt.Errorf

// checkFor polls fn until it returns nil, failing the test after timeout.
func checkFor(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	testutil.EventuallyEvery(t, timeout, 250*time.Millisecond, fn)
}

// logBuffer is a node's log, safe for concurrent use.
type logBuffer = testproc.SyncBuffer

// failureLog returns a buffer printed under name if the test fails.
func failureLog(t *testing.T, name string) *logBuffer {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() && b.String() != "" {
			t.Logf("%s log:\n%s", name, b.Tail(100))
		}
	})
	return b
}

// testContext returns a context cancelled after d or when the test ends.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
