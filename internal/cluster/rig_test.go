package cluster_test

// An in-process cluster: real nodes (internal/node) on loopback ports, one
// data directory each, a three-voter metadata quorum over real Raft
// connections. Nodes are stopped cleanly or aborted (a crash as far as one
// process can fake it) and restarted on their directories.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/node"
	"github.com/gregor-dev/gregor/internal/testutil"
)

// rigSets make failures quick to detect.
var rigSets = []string{
	"broker.session.timeout.ms=1500",
	"broker.heartbeat.interval.ms=150",
	"replica.lag.time.max.ms=1000",
	"replica.fetch.wait.max.ms=100",
	"offsets.topic.num.partitions=3",
	"group.initial.rebalance.delay.ms=0",
	"leader.imbalance.check.interval.seconds=3600",
}

type rigNode struct {
	id       int32
	dir      string
	addr     string // client listener
	ctlAddr  string
	n        *node.Node // nil while down
	stopOnce sync.Once
}

type rig struct {
	t      *testing.T
	voters string
	nodes  []*rigNode
	sets   []string
	logger *slog.Logger
}

func newRig(t *testing.T, size int, sets ...string) *rig {
	t.Helper()
	r := &rig{t: t, sets: append(append([]string{}, rigSets...), sets...)}
	r.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GREGOR_RIG_LOG") != "" {
		r.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var voters []string
	lns := make([][2]net.Listener, size)
	for i := range size {
		for j := range 2 {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			lns[i][j] = ln
		}
		rn := &rigNode{id: int32(i + 1), dir: t.TempDir(), addr: lns[i][0].Addr().String(), ctlAddr: lns[i][1].Addr().String()}
		r.nodes = append(r.nodes, rn)
		voters = append(voters, fmt.Sprintf("%d@%s", rn.id, rn.ctlAddr))
	}
	r.voters = strings.Join(voters, ",")
	var wg sync.WaitGroup
	errs := make([]error, size)
	for i, rn := range r.nodes {
		wg.Go(func() { errs[i] = r.startOn(rn, lns[i][0], lns[i][1]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	r.waitReady()
	t.Cleanup(func() {
		for _, rn := range r.nodes {
			if rn.n != nil {
				rn.n.Abort()
				rn.n = nil
			}
		}
	})
	return r
}

func (r *rig) config(rn *rigNode) *config.Broker {
	sets := append([]string{
		fmt.Sprintf("node.id=%d", rn.id),
		"log.dirs=" + rn.dir,
		"controller.quorum.voters=" + r.voters,
		fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", rn.addr, rn.ctlAddr),
		"metrics.listen=",
	}, r.sets...)
	cfg, err := config.Load(config.LoadOptions{Sets: sets})
	if err != nil {
		r.t.Fatal(err)
	}
	return cfg
}

func (r *rig) startOn(rn *rigNode, ln, ctl net.Listener) error {
	n, err := node.Start(node.Options{Config: r.config(rn), Logger: r.logger.With("node", rn.id), Listener: ln, ControllerListener: ctl})
	if err != nil {
		return fmt.Errorf("node %d: %w", rn.id, err)
	}
	rn.n = n
	return nil
}

// start restarts a node that is down, on its directory and addresses.
func (r *rig) start(rn *rigNode) {
	r.t.Helper()
	var ln, ctl net.Listener
	var err error
	for range 100 { // the old sockets may linger a moment
		if ln, err = net.Listen("tcp", rn.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	if ctl, err = net.Listen("tcp", rn.ctlAddr); err != nil {
		r.t.Fatal(err)
	}
	if err := r.startOn(rn, ln, ctl); err != nil {
		r.t.Fatal(err)
	}
	r.waitReadyNode(rn)
}

func (r *rig) waitReady() {
	r.t.Helper()
	for _, rn := range r.nodes {
		if rn.n != nil {
			r.waitReadyNode(rn)
		}
	}
}

func (r *rig) waitReadyNode(rn *rigNode) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rn.n.WaitReady(ctx); err != nil {
		r.t.Fatalf("node %d: %v", rn.id, err)
	}
}

// abort crashes a node (as far as one process can).
func (r *rig) abort(rn *rigNode) {
	rn.n.Abort()
	rn.n = nil
}

// stop shuts a node down cleanly.
func (r *rig) stop(rn *rigNode) {
	if err := rn.n.Stop(); err != nil {
		r.t.Errorf("stopping node %d: %v", rn.id, err)
	}
	rn.n = nil
}

func (r *rig) node(id int32) *rigNode { return r.nodes[id-1] }

// up is any running node.
func (r *rig) up() *rigNode {
	for _, rn := range r.nodes {
		if rn.n != nil {
			return rn
		}
	}
	r.t.Fatal("no node is up")
	return nil
}

// image is the metadata as a running node applied it.
func (r *rig) image() *controller.Image { return r.up().n.Cluster().Image() }

// controllerNode is the node leading the metadata quorum.
func (r *rig) controllerNode() *rigNode {
	r.t.Helper()
	var found *rigNode
	waitFor(r.t, 10*time.Second, "a quorum leader", func() bool {
		for _, rn := range r.nodes {
			if rn.n != nil && rn.n.Cluster().IsController() {
				found = rn
				return true
			}
		}
		return false
	})
	return found
}

// partition is a topic partition's state in the image.
func (r *rig) partition(topic string, p int32) controller.Partition {
	t, ok := r.image().Topics[topic]
	if !ok || int(p) >= len(t.Partitions) {
		return controller.Partition{Leader: -1}
	}
	return t.Partitions[p]
}

func (r *rig) seeds() []string {
	var s []string
	for _, rn := range r.nodes {
		s = append(s, rn.addr)
	}
	return s
}

func (r *rig) client(opts ...kgo.Opt) *kgo.Client {
	r.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(r.seeds()...), kgo.RetryTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(cl.Close)
	return cl
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, func() error {
		if !cond() {
			return errors.New(what)
		}
		return nil
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
