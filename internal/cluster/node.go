// Package cluster runs a broker as a member of a cluster: the Raft metadata
// quorum (hashicorp/raft, the log applied to controller.Image by every
// node), the quorum leader's controller duties (registrations, broker
// leases and fencing, leader elections, ISR changes, admin changes), and the
// broker's side of it (registration and heartbeats, applying the committed
// metadata to local partitions, follower fetchers, ISR reports).
//
// Brokers talk to the controller with Kafka's own KRaft requests
// (BrokerRegistration, BrokerHeartbeat, AlterPartition, AllocateProducerIds)
// and forwarded admin requests (CreateTopics, DeleteTopics, ...) sent to
// the quorum leader's Kafka listener; the quorum leader answers them itself.
//
// Lock order: Node.ctlMu (leader decisions) before broker and partition
// locks. The metadata applier runs on Raft's FSM goroutine, in log order.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/replication"
	"github.com/gregor-dev/gregor/internal/wire"
)

// Errors of the cluster layer.
var (
	ErrNotController = broker.ErrNotController
	ErrShuttingDown  = errors.New("cluster: shutting down")
)

// metadataDir is where the Raft log, stable store and snapshots live,
// inside the data directory.
const metadataDir = "__cluster_metadata-0"

// Voters parses controller.quorum.voters: id@host:port, comma separated.
func Voters(s string) (map[int32]string, error) {
	out := map[int32]string{}
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		id, addr, ok := strings.Cut(v, "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("cluster: voter %q is not id@host:port", v)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("cluster: voter %q: %w", v, err)
		}
		out[int32(n)] = addr
	}
	return out, nil
}

// Options configure a Node.
type Options struct {
	Config           *config.Broker
	Broker           *broker.Broker
	Voters           map[int32]string // id -> Raft address
	ControllerListen string           // bind address of the Raft transport
	AdvertisedHost   string           // this broker's Kafka address
	AdvertisedPort   int32
	Logger           *slog.Logger
	Now              func() time.Time
}

// Node is this broker's membership in the cluster.
type Node struct {
	id          int32
	cfg         *config.Broker
	b           *broker.Broker
	logger      *slog.Logger
	now         func() time.Time
	host        string
	port        int32
	raftAddr    string
	voters      map[int32]string
	incarnation string

	raft      *raft.Raft
	transport *raft.NetworkTransport
	mux       *muxListener // the controller listener: Raft and Kafka
	store     *raftboltdb.BoltStore
	fsm       *fsm
	pool      *wire.Pool // controller requests and forwarded admin requests
	replPool  *wire.Pool // follower fetches: long polls must not delay the above
	repl      *replication.Manager
	apply     *applier

	brokerEpoch atomic.Int64 // from our registration; -1 before
	shutdown    atomic.Bool  // controlled shutdown under way

	ctlMu  sync.Mutex // serializes the quorum leader's decisions
	leases *leases

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start opens the metadata log, joins the quorum (bootstrapping it on a
// voter's first start) and starts the broker's registration, heartbeats,
// metadata applier and follower fetchers.
func Start(o Options) (*Node, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	id := o.Config.NodeID()
	n := &Node{
		id: id, cfg: o.Config, b: o.Broker, logger: o.Logger.With("component", "cluster"), now: o.Now,
		host: o.AdvertisedHost, port: o.AdvertisedPort,
		incarnation: randomHex(16),
	}
	n.brokerEpoch.Store(-1)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.voters = o.Voters
	n.raftAddr = o.Voters[id]
	if n.raftAddr == "" {
		n.raftAddr = o.ControllerListen
	}
	n.pool = wire.NewPool("gregor-broker-"+strconv.Itoa(int(id)), n.resolveBroker)
	n.replPool = wire.NewPool("gregor-replica-"+strconv.Itoa(int(id)), n.resolveBroker)
	n.repl = replication.New(replication.Options{
		NodeID:            id,
		Pool:              n.replPool,
		MaxWait:           ms(o.Config.Int64("replica.fetch.wait.max.ms")),
		MinBytes:          o.Config.Int("replica.fetch.min.bytes"),
		MaxBytes:          o.Config.Int("replica.fetch.response.max.bytes"),
		PartitionMaxBytes: o.Config.Int("replica.fetch.max.bytes"),
		Backoff:           ms(o.Config.Int64("replica.fetch.backoff.ms")),
		Logger:            o.Logger.With("component", "replication"),
	})
	n.fsm = newFSM(n.logger)
	n.apply = newApplier(n)
	n.fsm.applied = n.apply.apply
	n.leases = newLeases()
	o.Broker.SetController(n)
	if err := n.startRaft(o); err != nil {
		n.repl.Close()
		n.pool.Close()
		n.replPool.Close()
		return nil, err
	}
	n.wg.Add(3)
	go n.memberLoop()
	go n.leaderLoop()
	go n.isrLoop()
	return n, nil
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (n *Node) startRaft(o Options) error {
	dir := filepath.Join(o.Config.DataDir(), metadataDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cluster: metadata dir: %w", err)
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: newQuietWriter(os.Stderr, 10*time.Second, time.Now)})
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return fmt.Errorf("cluster: raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hl)
	if err != nil {
		store.Close()
		return fmt.Errorf("cluster: raft snapshots: %w", err)
	}
	adv, err := net.ResolveTCPAddr("tcp", n.raftAddr)
	if err != nil {
		store.Close()
		return fmt.Errorf("cluster: raft address %q: %w", n.raftAddr, err)
	}
	ln, err := net.Listen("tcp", o.ControllerListen)
	if err != nil {
		store.Close()
		return fmt.Errorf("cluster: controller listener %s: %w", o.ControllerListen, err)
	}
	n.mux = newMux(ln)
	trans := raft.NewNetworkTransportWithLogger(raftStream{chanListener{n.mux, n.mux.raft}, adv}, 4, 5*time.Second, hl)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(strconv.Itoa(int(n.id)))
	rc.Logger = hl
	rc.HeartbeatTimeout = 1000 * time.Millisecond
	rc.ElectionTimeout = 1000 * time.Millisecond
	rc.LeaderLeaseTimeout = 500 * time.Millisecond
	rc.CommitTimeout = 20 * time.Millisecond
	rc.SnapshotThreshold = 2048
	rc.SnapshotInterval = 30 * time.Second
	rc.TrailingLogs = 2048
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, trans)
	if err != nil {
		trans.Close()
		store.Close()
		return fmt.Errorf("cluster: raft: %w", err)
	}
	n.raft, n.transport, n.store = r, trans, store
	if _, voter := o.Voters[n.id]; voter {
		has, err := raft.HasExistingState(store, store, snaps)
		if err != nil {
			return fmt.Errorf("cluster: raft state: %w", err)
		}
		if !has {
			var servers []raft.Server
			for _, vid := range slices.Sorted(maps.Keys(o.Voters)) {
				servers = append(servers, raft.Server{
					Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(vid))), Address: raft.ServerAddress(o.Voters[vid]),
				})
			}
			// Every voter bootstraps with the same configuration, which
			// hashicorp/raft allows; the first start of any of them forms
			// the quorum.
			if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				return fmt.Errorf("cluster: bootstrap: %w", err)
			}
			n.logger.Info("metadata quorum bootstrapped", "voters", len(servers))
		}
	}
	return nil
}

// ControllerKafkaListener is the Kafka side of the controller listener:
// brokers that do not know the quorum leader send it their registration.
// The caller serves it with the broker's handlers.
func (n *Node) ControllerKafkaListener() net.Listener {
	return chanListener{n.mux, n.mux.kafka}
}

// Image is the metadata as this broker last applied it.
func (n *Node) Image() *controller.Image { return n.fsm.image.Load() }

// ID is this node's id.
func (n *Node) ID() int32 { return n.id }

// ControllerID is the quorum leader's node id, or -1.
func (n *Node) ControllerID() int32 {
	_, id := n.raft.LeaderWithID()
	v, err := strconv.ParseInt(string(id), 10, 32)
	if id == "" || err != nil {
		return -1
	}
	return int32(v)
}

// IsController reports whether this node leads the quorum.
func (n *Node) IsController() bool { return n.raft.State() == raft.Leader }

// resolveBroker maps a broker id to its Kafka address from the image.
func (n *Node) resolveBroker(id int32) (string, bool) {
	if id == n.id {
		return net.JoinHostPort(n.host, strconv.Itoa(int(n.port))), true
	}
	b, ok := n.Image().Brokers[id]
	if !ok {
		return "", false
	}
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), true
}

// waitImage waits until cond holds for the applied image, or ctx ends.
func (n *Node) waitImage(ctx context.Context, cond func(*controller.Image) bool) error {
	for {
		ch := n.fsm.Changed()
		if cond(n.Image()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close performs a controlled shutdown (leadership moved off this broker,
// bounded by ctx), then leaves: the quorum leadership is handed over if
// this node holds it, fetchers stop, Raft shuts down.
func (n *Node) Close(ctx context.Context) error {
	n.controlledShutdown(ctx)
	n.cancel()
	n.wg.Wait()
	n.repl.Close()
	if n.IsController() {
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			n.logger.Info("no quorum leadership transfer", "err", err)
		}
	}
	err := n.raft.Shutdown().Error()
	n.pool.Close()
	n.replPool.Close()
	n.transport.Close()
	n.store.Close()
	n.apply.close()
	return err
}
