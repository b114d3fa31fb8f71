// Package cluster runs a broker as a member of its cluster: the Raft metadata
// quorum (hashicorp/raft, the log applied to controller.Image by every
// node), the quorum leader's controller duties (registrations, broker
// leases and fencing, leader elections, ISR changes, admin changes), and the
// broker's side of it (registration and heartbeats, applying the committed
// metadata to local partitions, follower fetchers, ISR reports).
//
// Every broker runs it, a single one too: a broker started without voters
// is a one-voter quorum (on an in-memory Raft transport unless it has a
// controller listener), over the same records, image and apply code as a
// cluster, the way a one-member etcd is.
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
	"github.com/gregor-dev/gregor/internal/metrics"
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
	Config *config.Broker
	Broker *broker.Broker
	// Voters maps the quorum's voter ids to their Raft addresses. A voter
	// set of this node alone with an empty address is a one-voter quorum
	// on an in-memory transport.
	Voters map[int32]string
	// ControllerListener is the bound controller listener (Raft and Kafka
	// requests of brokers that do not know the quorum leader yet); nil
	// for an in-memory quorum.
	ControllerListener net.Listener
	AdvertisedHost     string // this broker's Kafka address
	AdvertisedPort     int32
	// ClusterID is the id this node's data directory belongs to, "" if it
	// has not learnt it yet (a new directory of a cluster node). A quorum
	// leader names a new cluster with it (or a new id when empty).
	ClusterID string
	// Bootstrap returns records the first quorum leader writes with the
	// cluster id, once, when the metadata log is new: the content of a
	// single broker's metadata from before the metadata log.
	Bootstrap func(img *controller.Image) []controller.Record
	Logger    *slog.Logger
	Now       func() time.Time
	Metrics   *metrics.Metrics // nil: none
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
	transport raftTransport
	mux       *muxListener // the controller listener: Raft and Kafka
	store     *raftboltdb.BoltStore
	fsm       *fsm
	pool      *wire.Pool // controller requests and forwarded admin requests
	replPool  *wire.Pool // follower fetches: long polls must not delay the above
	repl      *replication.Manager
	apply     *applier

	brokerEpoch atomic.Int64 // from our registration; -1 before
	shutdown    atomic.Bool  // controlled shutdown under way
	clusterID   string       // Options.ClusterID
	metrics     *metrics.Metrics
	bootstrap   func(img *controller.Image) []controller.Record
	fatal       chan error // a refusal this node cannot get past (buffered, 1)

	leaderMu      sync.Mutex
	leaderChanged chan struct{} // closed and replaced when the quorum leader changes

	ctlMu        sync.Mutex // serializes the quorum leader's decisions
	caughtUpTerm uint64     // the Raft term whose leader has applied the log before it (ctlMu)
	leases       *leases

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
		clusterID:   o.ClusterID, bootstrap: o.Bootstrap, metrics: o.Metrics,
		fatal: make(chan error, 1), leaderChanged: make(chan struct{}),
	}
	n.brokerEpoch.Store(-1)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.voters = o.Voters
	n.raftAddr = o.Voters[id]
	if n.raftAddr == "" && o.ControllerListener != nil {
		n.raftAddr = o.ControllerListener.Addr().String()
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
	n.fsm.applied = func(*controller.Image) { n.apply.kick() }
	go n.apply.run()
	n.leases = newLeases()
	o.Broker.SetController(n)
	if err := n.startRaft(o); err != nil {
		if n.raft != nil {
			n.raft.Shutdown().Error()
		}
		if n.transport != nil {
			n.transport.Close()
		}
		if n.store != nil {
			n.store.Close()
		}
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

// raftTransport is what startRaft needs of either transport.
type raftTransport interface {
	raft.Transport
	Close() error
}

type inmemTransport struct{ *raft.InmemTransport }

func (inmemTransport) Close() error { return nil }

func (n *Node) startRaft(o Options) error {
	dir := filepath.Join(o.Config.DataDir(), metadataDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cluster: metadata dir: %w", err)
	}
	level := hclog.Warn
	if n.raftAddr == "" {
		level = hclog.Error // a one-voter quorum's election at every start is no news
	}
	hl := raftLogger(o.Logger, level, 10*time.Second, time.Now)
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		return fmt.Errorf("cluster: raft log: %w", err)
	}
	n.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hl)
	if err != nil {
		return fmt.Errorf("cluster: raft snapshots: %w", err)
	}
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
	var trans raftTransport
	if n.raftAddr == "" {
		// A one-voter quorum with no peers to reach: it elects itself as
		// soon as its (short) heartbeat timeout passes.
		_, t := raft.NewInmemTransport(raft.ServerAddress("inmem-" + strconv.Itoa(int(n.id))))
		trans = inmemTransport{t}
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 5*time.Millisecond, 5*time.Millisecond, 5*time.Millisecond
	} else {
		adv, err := net.ResolveTCPAddr("tcp", n.raftAddr)
		if err != nil {
			return fmt.Errorf("cluster: raft address %q: %w", n.raftAddr, err)
		}
		if o.ControllerListener == nil {
			return fmt.Errorf("cluster: node %d has a Raft address but no controller listener", n.id)
		}
		n.mux = newMux(o.ControllerListener)
		trans = raft.NewNetworkTransportWithLogger(raftStream{chanListener{n.mux, n.mux.raft}, adv}, 4, 5*time.Second, hl)
	}
	n.transport = trans
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("cluster: raft state: %w", err)
	}
	if has {
		if err := n.checkVoters(store, snaps); err != nil {
			return err
		}
	}
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, trans)
	if err != nil {
		return fmt.Errorf("cluster: raft: %w", err)
	}
	n.raft = r
	// Leader changes wake whoever waits for a quorum leader (registration
	// at start), instead of their next retry.
	obs := make(chan raft.Observation, 4)
	r.RegisterObserver(raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	}))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case <-obs:
				n.leaderMu.Lock()
				close(n.leaderChanged)
				n.leaderChanged = make(chan struct{})
				n.leaderMu.Unlock()
			case <-n.ctx.Done():
				return
			}
		}
	}()
	if _, voter := o.Voters[n.id]; voter && !has {
		var servers []raft.Server
		for _, vid := range slices.Sorted(maps.Keys(o.Voters)) {
			addr := raft.ServerAddress(o.Voters[vid])
			if vid == n.id {
				addr = trans.LocalAddr()
			}
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(vid))), Address: addr})
		}
		// Every voter bootstraps with the same configuration, which
		// hashicorp/raft allows; the first start of any of them forms
		// the quorum.
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("cluster: bootstrap: %w", err)
		}
		n.logger.Info("metadata quorum bootstrapped", "voters", len(servers))
	}
	return nil
}

// checkVoters refuses a metadata log whose quorum is not the configured
// one: a cluster node's directory started alone (or a single broker's in a
// cluster) would otherwise wait forever for an election it cannot win, or
// split the cluster.
func (n *Node) checkVoters(logs raft.LogStore, snaps raft.SnapshotStore) error {
	cfg, err := latestConfiguration(logs, snaps)
	if err != nil {
		return fmt.Errorf("cluster: reading the metadata quorum's configuration: %w", err)
	}
	var have []int32
	for _, s := range cfg.Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			return fmt.Errorf("cluster: metadata quorum server id %q", s.ID)
		}
		have = append(have, int32(id))
	}
	slices.Sort(have)
	want := slices.Sorted(maps.Keys(n.voters))
	if len(have) == 0 || slices.Equal(have, want) {
		return nil
	}
	return fmt.Errorf("%w: the metadata log in %s belongs to a quorum of voters %s, but this node is configured with %s; %s",
		ErrWrongQuorum, filepath.Join(n.cfg.DataDir(), metadataDir), idList(have), idList(want), quorumHint(have, n.id))
}

// ErrWrongQuorum is a data directory started with another metadata quorum
// than the one it belongs to.
var ErrWrongQuorum = errors.New("cluster: wrong metadata quorum for this data directory")

func idList(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return "{" + strings.Join(s, ",") + "}"
}

// quorumHint says how to start a directory of quorum have.
func quorumHint(have []int32, self int32) string {
	if len(have) == 1 && have[0] == self {
		return "it is a single broker's directory: start it without --voters (controller.quorum.voters), or use a new data directory for a cluster node"
	}
	return fmt.Sprintf("start it with --voters (controller.quorum.voters) listing voters %s with their controller addresses, or use a new data directory", idList(have))
}

// latestConfiguration is the last Raft configuration in the log, or the
// snapshot's when the log holds none.
func latestConfiguration(logs raft.LogStore, snaps raft.SnapshotStore) (raft.Configuration, error) {
	last, err := logs.LastIndex()
	if err != nil {
		return raft.Configuration{}, err
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return raft.Configuration{}, err
	}
	for i := last; i >= first && i > 0; i-- {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			continue
		}
		if l.Type == raft.LogConfiguration {
			return raft.DecodeConfiguration(l.Data), nil
		}
	}
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 {
		return raft.Configuration{}, err
	}
	return metas[0].Configuration, nil
}

// ControllerKafkaListener is the Kafka side of the controller listener:
// brokers that do not know the quorum leader send it their registration.
// The caller serves it with the broker's handlers. Nil for an in-memory
// quorum.
func (n *Node) ControllerKafkaListener() net.Listener {
	if n.mux == nil {
		return nil
	}
	return chanListener{n.mux, n.mux.kafka}
}

// leaderChange returns a channel closed at the next change of the quorum
// leader.
func (n *Node) leaderChange() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderChanged
}

// ClusterID is the cluster's id as the metadata log names it ("" until the
// first quorum leader has).
func (n *Node) ClusterID() string { return n.committed().ClusterID }

// WaitReady returns once this broker serves: its registration of this
// process is in the metadata it has applied, unfenced, so everything
// committed before it is applied too (topics opened, roles taken). It fails
// at once when the controller refused this node for good (another cluster
// id, say), or when ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	for {
		ch := n.apply.appliedChange()
		if img := n.Image(); n.registered(img) && img.ClusterID != "" {
			return nil
		}
		select {
		case <-ch:
		case err := <-n.fatal:
			n.fatal <- err
			return err
		case <-ctx.Done():
			return fmt.Errorf("cluster: not registered with the metadata quorum in time (controller %d): %w", n.ControllerID(), ctx.Err())
		}
	}
}

// fail records a refusal this node cannot get past.
func (n *Node) fail(err error) {
	select {
	case n.fatal <- err:
	default:
	}
}

// Image is the metadata as this broker has applied it: its partitions are
// open and in the roles it gives them. Clients' answers come from it.
func (n *Node) Image() *controller.Image { return n.apply.applied.Load() }

// committed is the newest metadata committed to the log and published by
// the FSM, which the applier may not have caught up with yet: the quorum
// leader decides on it.
func (n *Node) committed() *controller.Image { return n.fsm.image.Load() }

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
	b, ok := n.committed().Brokers[id]
	if !ok {
		return "", false
	}
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), true
}

// waitImage waits until cond holds for the applied image, or ctx ends.
func (n *Node) waitImage(ctx context.Context, cond func(*controller.Image) bool) error {
	for {
		ch := n.apply.appliedChange()
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
	return n.leave(true)
}

// Abort leaves at once, as a crashed node would: no controlled shutdown, no
// handing over of the quorum leadership (in-process tests of failures).
func (n *Node) Abort() error { return n.leave(false) }

func (n *Node) leave(handOver bool) error {
	n.cancel()
	n.wg.Wait()
	n.repl.Close()
	if handOver && n.IsController() && len(n.voters) > 1 {
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
