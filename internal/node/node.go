// Package node is the composition root: it starts and stops one whole
// broker node (its data directory, the broker's partitions, its membership
// in the metadata quorum, the group coordinator, the Kafka handlers and
// listeners), in one place, for `gregor serve` and for tests that run
// several nodes in one process.
//
// Start order: data directory lock and meta.properties, the broker (no
// partition opened yet), the metadata quorum (whose applier opens the
// partitions this broker holds and gives them their roles), the group
// coordinator, the handlers and servers. Stop runs it backwards, after a
// controlled shutdown that moves leadership away while requests are still
// served.
package node

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/cluster"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/handlers"
	"github.com/gregor-dev/gregor/internal/metrics"
	"github.com/gregor-dev/gregor/internal/server"
	"github.com/gregor-dev/gregor/internal/storage"
)

// Options configure Start.
type Options struct {
	Config *config.Broker
	Logger *slog.Logger
	// Listener is the bound client listener; nil: listen on the configured
	// address.
	Listener net.Listener
	// ControllerListener is the bound controller (Raft) listener; nil:
	// listen on the configured controller address, if the node has one.
	ControllerListener net.Listener
	// FS is the file system of the partitions' logs; nil: the OS (and only
	// then is the data directory locked).
	FS storage.FS
	// MetricsListener is the bound HTTP listener for /metrics, /healthz
	// and /readyz; nil: listen on metrics.listen, if set.
	MetricsListener net.Listener
	// SyncJournal, for power-loss tests of whole processes, journals every
	// fsync of the partitions' files to this file (storage.JournalFS; see
	// storage.ApplyPowerLoss). It replaces FS.
	SyncJournal string
}

// Node is one running broker node.
type Node struct {
	cfg    *config.Broker
	logger *slog.Logger
	fs     storage.FS
	lock   *dirLock
	meta   metaProperties
	legacy bool // topics.json to retire once the metadata log has its content

	b       *broker.Broker
	cl      *cluster.Node
	groups  *group.Coordinator
	h       *handlers.Handlers
	srv     *server.Server
	ctlSrv  *server.Server
	addr    string // advertised host:port
	serveCh chan error
	metrics *metrics.Metrics
	http    *metrics.HTTP // nil: none
	ready   atomic.Bool   // /readyz: registered and caught up, not stopping

	stopOnce sync.Once
	stopErr  error

	readyCh  chan struct{} // closed once the cluster membership is ready (or failed)
	readyErr error         // valid after readyCh
	cancel   context.CancelFunc
}

// Start brings a node up: it returns once the node serves requests (the
// metadata quorum may still be electing or the node registering: see
// WaitReady).
func Start(o Options) (n *Node, err error) {
	cfg := o.Config
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FS == nil {
		o.FS = storage.OS
	}
	realDisk := o.FS == storage.OS
	if o.SyncJournal != "" {
		j, err := storage.NewJournalFS(o.SyncJournal)
		if err != nil {
			return nil, err
		}
		o.FS, realDisk = j, true
	}
	n = &Node{cfg: cfg, logger: o.Logger, fs: o.FS, serveCh: make(chan error, 1), readyCh: make(chan struct{})}
	var cleanup []func()
	defer func() {
		if err != nil {
			for _, f := range slices.Backward(cleanup) {
				f()
			}
		}
	}()
	dir := cfg.DataDir()
	if realDisk {
		if n.lock, err = lockDataDir(dir); err != nil {
			return nil, err
		}
		cleanup = append(cleanup, n.lock.release)
	} else if err := o.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}

	voters, err := quorumVoters(cfg)
	if err != nil {
		return nil, err
	}
	voterIDs := slices.Sorted(maps.Keys(voters))
	if n.meta, err = readMetaProperties(o.FS, dir); err != nil {
		return nil, err
	}
	if err := checkMeta(dir, n.meta, cfg.NodeID(), voterIDs); err != nil {
		return nil, err
	}
	legacy, hasLegacy, err := broker.ReadLegacyMetadata(o.FS, dir)
	if err != nil {
		return nil, err
	}
	if hasLegacy && len(voterIDs) > 1 {
		return nil, fmt.Errorf("%w: %s holds a single broker's topics (metadata/topics.json) but this broker is configured with voters %v: start it without --voters to migrate them into its metadata log, or use a new data directory for a cluster node",
			ErrDataDirMismatch, dir, voterIDs)
	}
	n.legacy = hasLegacy
	clusterID := n.meta.ClusterID
	if n.meta.exists && n.meta.Voters == nil && !hasLegacy && len(voterIDs) > 1 {
		// A cluster node's directory from before meta.properties named
		// its quorum: every node had its own id then; the log's wins.
		clusterID = ""
	}
	n.meta.NodeID, n.meta.Voters, n.meta.exists = cfg.NodeID(), voterIDs, true
	if clusterID != n.meta.ClusterID {
		n.meta.ClusterID = ""
	}
	if err := writeMetaProperties(o.FS, dir, n.meta); err != nil {
		return nil, err
	}

	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.ListenAddr()); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
		}
	}
	cleanup = append(cleanup, func() { ln.Close() })
	n.addr = advertisedAddr(cfg, ln.Addr())
	ctlLn := o.ControllerListener
	if ctlLn == nil {
		if addr := controllerListenAddr(cfg, voters); addr != "" {
			if ctlLn, err = net.Listen("tcp", addr); err != nil {
				return nil, fmt.Errorf("node: controller listener %s: %w", addr, err)
			}
		}
	}
	if ctlLn != nil {
		cleanup = append(cleanup, func() { ctlLn.Close() })
		if voters[cfg.NodeID()] == "" && len(voters) == 1 {
			voters[cfg.NodeID()] = ctlLn.Addr().String()
		}
	} else if len(voters) > 1 || voters[cfg.NodeID()] != "" {
		return nil, fmt.Errorf("node %d has no controller listener: set --controller-listen (a CONTROLLER:// entry in listeners)", cfg.NodeID())
	}

	n.metrics = metrics.New(nodeView{n})
	mln := o.MetricsListener
	if mln == nil {
		if addr := cfg.String("metrics.listen"); addr != "" {
			if mln, err = net.Listen("tcp", addr); err != nil {
				return nil, fmt.Errorf("node: metrics listener %s (metrics.listen; empty turns it off): %w", addr, err)
			}
		}
	}
	if mln != nil {
		n.http = metrics.ServeHTTP(mln, n.metrics, n.ready.Load)
		cleanup = append(cleanup, func() { n.http.Close() })
	}
	if n.b, err = broker.Open(cfg, broker.Options{FS: o.FS, Logger: o.Logger, OnFlush: n.metrics.Flush}); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { n.b.Close() })
	host, portStr, _ := net.SplitHostPort(n.addr)
	port, _ := strconv.Atoi(portStr)
	copts := cluster.Options{
		Config: cfg, Broker: n.b, Voters: voters, ControllerListener: ctlLn,
		AdvertisedHost: host, AdvertisedPort: int32(port), ClusterID: clusterID, Logger: o.Logger,
		Metrics: n.metrics,
	}
	if hasLegacy {
		copts.Bootstrap = func(img *controller.Image) []controller.Record {
			return legacyRecords(o.FS, dir, cfg.NodeID(), legacy, o.Logger)
		}
	}
	if n.cl, err = cluster.Start(copts); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { n.cl.Close(context.Background()) })
	n.groups = group.NewForBroker(n.b, o.Logger, n.metrics.Rebalance)
	n.b.OnTopicDeleted(n.metrics.TopicDeleted)
	if err := n.groups.Start(); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, n.groups.Close)
	n.cl.SetGroupCoordinator(n.groups)
	readyCtx, cancelReady := context.WithCancel(context.Background())
	n.cancel = cancelReady
	cleanup = append(cleanup, cancelReady)
	go func() {
		n.readyErr = n.cl.WaitReady(readyCtx)
		close(n.readyCh)
	}()
	if n.h, err = handlers.New(handlers.Config{Broker: n.b, Cluster: n.cl, Groups: n.groups, Advertised: n.addr, Logger: o.Logger, Metrics: n.metrics, Ready: n.readyCh}); err != nil {
		return nil, err
	}
	scfg := server.Config{
		MaxRequestSize:        cfg.Int("socket.request.max.bytes"),
		QueuedMaxRequestBytes: cfg.Int64("queued.max.request.bytes"),
		IdleTimeout:           time.Duration(cfg.Int64("connections.max.idle.ms")) * time.Millisecond,
		Logger:                o.Logger,
		Metrics:               n.metrics,
	}
	n.srv = server.New(ln, scfg, n.h)
	go func() { n.serveCh <- n.srv.Serve() }()
	if kl := n.cl.ControllerKafkaListener(); kl != nil {
		// Kafka requests on the controller listener: registrations of
		// brokers that do not know the quorum leader yet.
		n.ctlSrv = server.New(kl, scfg, n.h)
		go n.ctlSrv.Serve()
	}
	return n, nil
}

// WaitReady returns once the node has caught up with the metadata log and
// serves as a registered, unfenced broker; it then records the cluster id
// in meta.properties (and retires a migrated topics.json).
func (n *Node) WaitReady(ctx context.Context) error {
	select {
	case <-n.readyCh:
	case <-ctx.Done():
		return fmt.Errorf("node: not ready: %w", ctx.Err())
	}
	if n.readyErr != nil {
		return n.readyErr
	}
	id := n.cl.ClusterID()
	if n.meta.ClusterID != id {
		if n.meta.ClusterID != "" {
			return fmt.Errorf("%w: %s belongs to cluster %s, but the metadata quorum is cluster %s", ErrDataDirMismatch, n.cfg.DataDir(), n.meta.ClusterID, id)
		}
		n.meta.ClusterID = id
		if err := writeMetaProperties(n.fs, n.cfg.DataDir(), n.meta); err != nil {
			return err
		}
	}
	n.ready.Store(true)
	if n.legacy {
		if err := broker.RetireLegacyMetadata(n.fs, n.cfg.DataDir()); err != nil {
			return err
		}
		n.logger.Info("single-broker topic metadata migrated into the metadata log", "file", broker.LegacyMetadataPath(n.cfg.DataDir())+".migrated")
		n.legacy = false
	}
	return nil
}

// Addr is the address the node advertises to clients (host:port).
func (n *Node) Addr() string { return n.addr }

// ListenAddr is the bound client listener's address.
func (n *Node) ListenAddr() net.Addr { return n.srv.Addr() }

// ClusterID is the cluster's id.
func (n *Node) ClusterID() string { return n.cl.ClusterID() }

// Broker, Cluster, Groups and Handlers are the node's parts, for tests and
// tools.
func (n *Node) Broker() *broker.Broker       { return n.b }
func (n *Node) Cluster() *cluster.Node       { return n.cl }
func (n *Node) Groups() *group.Coordinator   { return n.groups }
func (n *Node) Handlers() *handlers.Handlers { return n.h }

// MetricsAddr is the bound metrics listener's address, nil without one.
func (n *Node) MetricsAddr() net.Addr {
	if n.http == nil {
		return nil
	}
	return n.http.Addr()
}

// Metrics is the node's instrumentation.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Serving is closed with the listener's error if it fails.
func (n *Node) Serving() <-chan error { return n.serveCh }

// shutdownGrace bounds how long in-flight requests may take at shutdown.
const shutdownGrace = 5 * time.Second

// controlledShutdownTimeout bounds the wait for the controller to move
// leadership off this node at shutdown.
const controlledShutdownTimeout = 15 * time.Second

// Stop shuts the node down cleanly: leadership moved away first (while
// requests are still answered), then in-flight requests finished, the
// group coordinator and the metadata quorum left, logs flushed and closed.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() { n.stopErr = n.stop() })
	return n.stopErr
}

func (n *Node) stop() error {
	n.ready.Store(false)
	n.cancel()
	cctx, ccancel := context.WithTimeout(context.Background(), controlledShutdownTimeout)
	if err := n.cl.Close(cctx); err != nil {
		n.logger.Warn("leaving the metadata quorum", "err", err)
	}
	ccancel()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if n.ctlSrv != nil {
		n.ctlSrv.Shutdown(ctx)
	}
	if err := n.srv.Shutdown(ctx); err != nil {
		n.logger.Warn("connections still busy at the shutdown deadline were closed", "err", err)
	}
	n.groups.Close()
	err := n.b.Close()
	if err != nil {
		n.logger.Error("closing the logs", "err", err)
	}
	if n.http != nil {
		n.http.Close()
	}
	n.lock.release()
	return err
}

// Abort stops the node as a crash would, as far as one process can: no
// controlled shutdown and no quorum leadership hand-over, connections cut
// at once. (Logs are still closed; SIGKILL tests use real processes.)
func (n *Node) Abort() {
	n.stopOnce.Do(n.abort)
}

func (n *Node) abort() {
	n.cancel()
	n.cl.Abort()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n.ctlSrv != nil {
		n.ctlSrv.Shutdown(ctx)
	}
	n.srv.Shutdown(ctx)
	n.groups.Close()
	n.b.Close()
	if n.http != nil {
		n.http.Close()
	}
	n.lock.release()
}

// quorumVoters is controller.quorum.voters, or this node alone (an
// in-memory quorum, unless it has a controller listener): see
// config.Broker.QuorumVoters.
func quorumVoters(cfg *config.Broker) (map[int32]string, error) {
	return cfg.QuorumVoters(), nil
}

// controllerListenAddr is where the controller listener binds: the
// CONTROLLER entry of listeners, else the node's own voter address.
func controllerListenAddr(cfg *config.Broker, voters map[int32]string) string {
	if a := cfg.ControllerListenAddr(); a != "" {
		return a
	}
	return voters[cfg.NodeID()]
}

// advertisedAddr is the client listener's advertised address (see
// config.Broker.AdvertisedAddr), its port 0 replaced by the bound port.
func advertisedAddr(cfg *config.Broker, bound net.Addr) string {
	host, port, _ := net.SplitHostPort(cfg.AdvertisedAddr())
	if port == "0" {
		_, port, _ = net.SplitHostPort(bound.String())
	}
	return net.JoinHostPort(host, port)
}

// legacyRecords turns a single broker's topics.json into metadata records:
// its topics with their ids, partition counts and configs, every replica
// on this node at the leader epoch its log already has; the producer ids it
// may have handed out; its dynamic broker configs.
func legacyRecords(fsys storage.FS, dir string, self int32, m broker.Legacy, logger *slog.Logger) []controller.Record {
	var recs []controller.Record
	for _, lt := range m.Topics {
		t := &controller.Topic{Name: lt.Name, ID: lt.ID, Configs: lt.Configs}
		for i := range lt.Partitions {
			epoch, err := storage.LatestEpochIn(fsys, broker.PartitionDir(dir, lt.Name, i))
			if err != nil {
				logger.Warn("reading a migrated partition's leader epoch", "topic", lt.Name, "partition", i, "err", err)
			}
			t.Partitions = append(t.Partitions, controller.Partition{
				Replicas: []int32{self}, ISR: []int32{self}, Leader: self, LeaderEpoch: max(epoch, 0),
			})
		}
		recs = append(recs, controller.Record{Type: controller.RecCreateTopic, Topic: t})
	}
	if m.ProducerIDBlockEnd > 0 {
		recs = append(recs, controller.Record{Type: controller.RecProducerIDs, NextProducerID: m.ProducerIDBlockEnd})
	}
	if len(m.DynamicDefault) > 0 {
		recs = append(recs, controller.Record{Type: controller.RecBrokerConfig, ConfigResource: "", Configs: m.DynamicDefault})
	}
	if len(m.DynamicBroker) > 0 {
		recs = append(recs, controller.Record{Type: controller.RecBrokerConfig, ConfigResource: strconv.Itoa(int(self)), Configs: m.DynamicBroker})
	}
	logger.Info("migrating a single broker's topics into the metadata log", "topics", len(m.Topics))
	return recs
}
