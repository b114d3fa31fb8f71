package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/cluster"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/handlers"
	"github.com/gregor-dev/gregor/internal/server"
)

// shutdownGrace bounds how long in-flight requests may take at shutdown.
const shutdownGrace = 5 * time.Second

type serveFlags struct {
	configFile string
	sets       []string
	dataDir    string
	listen     string
	advertise  string
	nodeID     int32
	logLevel   string
	ctlListen  string
	voters     string
}

func serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a broker. With no flags: a single node (node.id 1) listening on :9092,
advertised as localhost:9092, data in ./gregor-data, topics auto-created.

Configuration uses Apache Kafka's server.properties names. Sources, lowest
precedence first: built-in defaults, --config FILE, GREGOR_* environment
variables (log.segment.bytes → GREGOR_LOG_SEGMENT_BYTES), --set key=value,
then the dedicated flags below.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", "", "server.properties-style configuration file")
	fl.StringArrayVar(&f.sets, "set", nil, "set a Kafka broker config, key=value (repeatable)")
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (log.dirs; default ./gregor-data)")
	fl.StringVar(&f.listen, "listen", "", "listen address HOST:PORT (listeners; default :9092)")
	fl.StringVar(&f.advertise, "advertise", "", "address given to clients HOST:PORT (advertised.listeners; default: the listen address, localhost for a wildcard host)")
	fl.Int32Var(&f.nodeID, "node-id", 0, "node id (node.id; default 1)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.StringVar(&f.ctlListen, "controller-listen", "", "metadata quorum (Raft) listen address HOST:PORT (a CONTROLLER:// entry in listeners)")
	fl.StringVar(&f.voters, "voters", "", "metadata quorum voters id@HOST:PORT,... (controller.quorum.voters); without it the broker runs alone")
	return cmd
}

func runServe(cmd *cobra.Command, f *serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	// Catch signals before anything else, so one that arrives during start-up
	// (or right after the ready line) still means a clean shutdown.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	sets := append([]string(nil), f.sets...)
	fl := cmd.Flags()
	if fl.Changed("data-dir") {
		sets = append(sets, "log.dirs="+f.dataDir)
	}
	if fl.Changed("listen") {
		sets = append(sets, "listeners="+f.listen)
	}
	if fl.Changed("advertise") {
		sets = append(sets, "advertised.listeners="+f.advertise)
	}
	if fl.Changed("node-id") {
		sets = append(sets, "node.id="+strconv.Itoa(int(f.nodeID)))
	}
	if fl.Changed("voters") {
		sets = append(sets, "controller.quorum.voters="+f.voters)
	}
	cfg, err := config.Load(config.LoadOptions{File: f.configFile, Sets: sets, Env: os.Environ()})
	if err != nil {
		return err
	}
	if fl.Changed("controller-listen") {
		client := cfg.ListenAddr()
		sets = append(sets, "listeners=PLAINTEXT://"+client+",CONTROLLER://"+f.ctlListen)
		if cfg, err = config.Load(config.LoadOptions{File: f.configFile, Sets: sets, Env: os.Environ()}); err != nil {
			return err
		}
	}
	var voters map[int32]string
	if v := cfg.String("controller.quorum.voters"); v != "" {
		if voters, err = cluster.Voters(v); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
	}
	advertised := advertisedAddr(cfg, ln.Addr())

	b, err := broker.Open(cfg, broker.Options{Logger: logger, Clustered: voters != nil})
	if err != nil {
		ln.Close()
		return err
	}
	var node *cluster.Node
	hopts := []handlers.Option{}
	if voters != nil {
		if node, err = startCluster(cfg, b, voters, advertised, logger); err != nil {
			ln.Close()
			b.Close()
			return err
		}
		hopts = append(hopts, handlers.WithCluster(node))
	}
	groups := group.NewForBroker(b, logger)
	if err := groups.Start(); err != nil {
		ln.Close()
		b.Close()
		return err
	}
	if node != nil {
		node.SetGroupCoordinator(groups)
	}
	h, err := handlers.New(b, advertised, logger, append(hopts, handlers.WithGroupCoordinator(groups))...)
	if err != nil {
		ln.Close()
		groups.Close()
		b.Close()
		return err
	}
	srv := server.New(ln, server.Config{
		MaxRequestSize:        cfg.Int("socket.request.max.bytes"),
		QueuedMaxRequestBytes: cfg.Int64("queued.max.request.bytes"),
		IdleTimeout:           time.Duration(cfg.Int64("connections.max.idle.ms")) * time.Millisecond,
		Logger:                logger,
	}, h)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()
	var ctlSrv *server.Server
	if node != nil {
		// Kafka requests on the controller listener: registrations of
		// brokers that do not know the quorum leader yet.
		ctlSrv = server.New(node.ControllerKafkaListener(), server.Config{
			MaxRequestSize:        cfg.Int("socket.request.max.bytes"),
			QueuedMaxRequestBytes: cfg.Int64("queued.max.request.bytes"),
			IdleTimeout:           time.Duration(cfg.Int64("connections.max.idle.ms")) * time.Millisecond,
			Logger:                logger,
		}, h)
		go ctlSrv.Serve()
	}
	logger.Info("broker ready", "addr", ln.Addr().String(), "advertised", advertised,
		"node.id", cfg.NodeID(), "cluster.id", b.ClusterID(), "data.dir", cfg.DataDir())

	var runErr error
	select {
	case s := <-sigs:
		logger.Info("shutting down", "signal", s.String())
	case runErr = <-serveErr:
		logger.Error("listener failed; shutting down", "err", runErr)
	}
	if node != nil {
		// Controlled shutdown first, while requests are still served:
		// leadership moves to other brokers before this one stops.
		cctx, ccancel := context.WithTimeout(context.Background(), controlledShutdownTimeout)
		if err := node.Close(cctx); err != nil {
			logger.Warn("leaving the metadata quorum", "err", err)
		}
		ccancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if ctlSrv != nil {
		ctlSrv.Shutdown(ctx)
	}
	if err := srv.Shutdown(ctx); err != nil {
		logger.Warn("connections still busy at the shutdown deadline were closed", "err", err)
	}
	groups.Close()
	if err := b.Close(); err != nil {
		logger.Error("closing the logs", "err", err)
		return err
	}
	logger.Info("broker stopped")
	return runErr
}

// controlledShutdownTimeout bounds the wait for the controller to move
// leadership off this broker at shutdown.
const controlledShutdownTimeout = 15 * time.Second

// startCluster joins the metadata quorum.
func startCluster(cfg *config.Broker, b *broker.Broker, voters map[int32]string, advertised string, logger *slog.Logger) (*cluster.Node, error) {
	ctlListen := cfg.ControllerListenAddr()
	if ctlListen == "" {
		ctlListen = voters[cfg.NodeID()]
	}
	if ctlListen == "" {
		return nil, fmt.Errorf("node %d is not a voter and has no controller listener: set --controller-listen (a CONTROLLER:// entry in listeners)", cfg.NodeID())
	}
	host, portStr, err := net.SplitHostPort(advertised)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, err
	}
	return cluster.Start(cluster.Options{
		Config: cfg, Broker: b, Voters: voters, ControllerListen: ctlListen,
		AdvertisedHost: host, AdvertisedPort: int32(port), Logger: logger,
	})
}

// advertisedAddr is advertised.listeners when set, else the bound address
// (which has the real port when listening on port 0) with a wildcard host
// shown as localhost.
func advertisedAddr(cfg *config.Broker, bound net.Addr) string {
	if cfg.String("advertised.listeners") != "" {
		return cfg.AdvertisedAddr()
	}
	host, _, _ := net.SplitHostPort(cfg.AdvertisedAddr())
	_, port, _ := net.SplitHostPort(bound.String())
	return net.JoinHostPort(host, port)
}
