package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/node"
)

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
	metrics    string
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
	fl.StringVar(&f.metrics, "metrics-listen", "", "HTTP listener for /metrics, /healthz and /readyz HOST:PORT (metrics.listen; default :9644; empty turns it off)")
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
	if fl.Changed("metrics-listen") {
		sets = append(sets, "metrics.listen="+f.metrics)
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
	if ig := cfg.IgnoredEnv(); len(ig) > 0 {
		logger.Warn("ignoring environment variables that name no configuration key", "vars", strings.Join(ig, ","))
	}
	n, err := node.Start(node.Options{Config: cfg, Logger: logger})
	if err != nil {
		return err
	}
	// Ready once caught up with the metadata log and registered; a signal
	// meanwhile still shuts down cleanly.
	readyCtx, cancelReady := context.WithCancel(context.Background())
	readyErr := make(chan error, 1)
	go func() { readyErr <- n.WaitReady(readyCtx) }()
	var runErr error
	select {
	case err := <-readyErr:
		if err != nil {
			cancelReady()
			n.Stop()
			return err
		}
		metricsAddr := "off"
		if a := n.MetricsAddr(); a != nil {
			metricsAddr = a.String()
		}
		logger.Info("broker ready", "addr", n.ListenAddr().String(), "advertised", n.Addr(),
			"node.id", cfg.NodeID(), "cluster.id", n.ClusterID(), "data.dir", cfg.DataDir(), "metrics", metricsAddr)
		select {
		case s := <-sigs:
			logger.Info("shutting down", "signal", s.String())
		case runErr = <-n.Serving():
			logger.Error("listener failed; shutting down", "err", runErr)
		}
	case s := <-sigs:
		logger.Info("shutting down before the broker was ready", "signal", s.String())
	case runErr = <-n.Serving():
		logger.Error("listener failed; shutting down", "err", runErr)
	}
	cancelReady()
	if err := n.Stop(); err != nil {
		return err
	}
	logger.Info("broker stopped")
	return runErr
}
