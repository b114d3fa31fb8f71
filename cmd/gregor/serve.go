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
	journal    string
}

func serveCmd() *cobra.Command { return newServeCmd(new(serveFlags)) }

// newServeCmd is the serve command, parsing its flags into f.
func newServeCmd(f *serveFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a broker. With no flags: a single node (node.id 1) listening on :9092,
advertised as localhost:9092, data in ./gregor-data, topics auto-created.

Configuration uses Apache Kafka's server.properties names. Sources, lowest
precedence first: built-in defaults, --config FILE, GREGOR_* environment
variables (log.segment.bytes → GREGOR_LOG_SEGMENT_BYTES, spelt as the
apache/kafka image spells KAFKA_*), --set key=value, then the dedicated flags
below. Every key of Kafka 4's broker and controller configuration is
accepted; those whose feature Gregor lacks are logged at start as accepted
without effect.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", "", "server.properties-style configuration file")
	fl.StringArrayVar(&f.sets, "set", nil, "set a Kafka broker config, key=value (repeatable)")
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (log.dirs; default ./gregor-data)")
	fl.StringVar(&f.listen, "listen", "", "client listener HOST:PORT or NAME://HOST:PORT (listeners, keeping a controller listener set elsewhere; default :9092)")
	fl.StringVar(&f.advertise, "advertise", "", "address given to clients HOST:PORT (advertised.listeners, keeping a controller entry set elsewhere; default: the listen address, localhost for a wildcard host)")
	fl.Int32Var(&f.nodeID, "node-id", 0, "node id (node.id; default 1)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.StringVar(&f.ctlListen, "controller-listen", "", "metadata quorum (Raft) listen address HOST:PORT (the controller listener's entry in listeners, CONTROLLER:// by default)")
	fl.StringVar(&f.journal, "sync-journal", "", "test-only: journal every fsync of the data to this file, for power-loss tests")
	_ = fl.MarkHidden("sync-journal")
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

	cfg, err := loadConfig(cmd, f, os.Environ())
	if err != nil {
		return err
	}
	if ig := cfg.IgnoredEnv(); len(ig) > 0 {
		for i, v := range ig {
			if s := config.SuggestEnv(v); s != "" {
				ig[i] = v + " (did you mean " + s + "?)"
			}
		}
		logger.Warn("ignoring environment variables that name no configuration key", "vars", strings.Join(ig, ","))
	}
	if keys := cfg.WithoutEffect(); len(keys) > 0 {
		logger.Warn("configuration keys accepted without effect: Gregor does not implement their features yet", "keys", strings.Join(keys, ","))
	}
	n, err := node.Start(node.Options{Config: cfg, Logger: logger, SyncJournal: f.journal})
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

// loadConfig loads the configuration from the file, the environment, --set
// and the dedicated flags, each flag's value attributed to it in errors.
// --listen and --advertise replace the client listener's entry and keep a
// controller listener the other sources set; --controller-listen sets the
// controller listener's address.
func loadConfig(cmd *cobra.Command, f *serveFlags, env []string) (*config.Broker, error) {
	fl := cmd.Flags()
	var flags []config.Flag
	add := func(name, key, value string) {
		if fl.Changed(name) {
			flags = append(flags, config.Flag{Name: "--" + name, Key: key, Value: value})
		}
	}
	add("data-dir", "log.dirs", f.dataDir)
	add("node-id", "node.id", strconv.Itoa(int(f.nodeID)))
	add("voters", "controller.quorum.voters", f.voters)
	add("metrics-listen", "metrics.listen", f.metrics)
	opts := config.LoadOptions{File: f.configFile, Sets: f.sets, Flags: flags, Env: env}
	cfg, err := config.Load(opts)
	if err != nil || !fl.Changed("listen") && !fl.Changed("advertise") && !fl.Changed("controller-listen") {
		return cfg, err
	}
	// The listener flags edit what the other sources say.
	ctlName := "CONTROLLER"
	var ctl, advCtl string
	if l, ok := cfg.ControllerListener(); ok {
		ctlName, ctl = l.Name, l.String()
		for _, a := range cfg.AdvertisedListeners() {
			if a.Name == l.Name && cfg.String("advertised.listeners") != "" {
				advCtl = a.String()
			}
		}
	}
	if fl.Changed("controller-listen") {
		ctl = ctlName + "://" + f.ctlListen
	}
	if fl.Changed("listen") || fl.Changed("controller-listen") {
		client := f.listen
		if !fl.Changed("listen") {
			client = cfg.ClientListener().String()
		}
		names := "--listen"
		switch {
		case !fl.Changed("listen"):
			names = "--controller-listen"
		case fl.Changed("controller-listen"):
			names = "--listen, --controller-listen"
		}
		opts.Flags = append(opts.Flags, config.Flag{Name: names, Key: "listeners", Value: withEntry(client, ctlName, ctl)})
	}
	if fl.Changed("advertise") {
		opts.Flags = append(opts.Flags, config.Flag{Name: "--advertise", Key: "advertised.listeners", Value: withEntry(f.advertise, ctlName, advCtl)})
	}
	return config.Load(opts)
}

// withEntry appends the listener entry (NAME://host:port) to the listener
// list value unless it is empty or the list already has an entry of that
// name.
func withEntry(list, name, entry string) string {
	if entry == "" || strings.Contains(strings.ToUpper(list), strings.ToUpper(name)+"://") {
		return list
	}
	return list + "," + entry
}
