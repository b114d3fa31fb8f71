package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gregor-dev/gregor/internal/bench"
)

const benchLong = `Load generator for any Kafka-protocol broker, built on franz-go.

Throughput counts record value bytes only; MB/s means MiB/s (2^20 bytes).
Latencies come from an HDR histogram (1 µs to 60 s, 3 significant figures)
and are reported in microseconds. With --rate the load is open-loop: record
i is due at start + i/rate and its latency is measured from that time, so a
stall shows up as latency instead of slowing the sender down. Every run
stops after --records measured records or after --duration (default 10s),
plus at most --drain-timeout for records in flight. Produce and fetch errors
are counted, and each distinct one is logged once.

With --json the JSON summary goes to stdout and the table to stderr.`

// benchCommon are the flags every workload has.
type benchCommon struct {
	cfg      bench.Common
	json     bool
	logLevel string
	config   map[string]any // added to the summary's config beside the flags
}

func (b *benchCommon) register(fl *pflag.FlagSet) {
	b.registerRun(fl)
	fl.StringVar(&b.cfg.Topic, "topic", "gregor-bench", "topic")
	fl.Int32Var(&b.cfg.Partitions, "partitions", 1, "partitions when the topic is created (an existing topic is used as it is)")
	fl.IntVar(&b.cfg.RecordSize, "record-size", 1024, fmt.Sprintf("record value bytes (>= %d: time and sequence header)", bench.HeaderSize))
	fl.Int64Var(&b.cfg.Records, "records", 0, "measured records to run for (instead of --duration)")
	fl.DurationVar(&b.cfg.Duration, "duration", 10*time.Second, "measured time to run for (instead of --records)")
	fl.DurationVar(&b.cfg.Warmup, "warmup", 0, "warm-up before the measured phase; its samples are discarded")
}

// registerRun registers the flags of how a run goes, not of what it
// loads: a workload file says that.
func (b *benchCommon) registerRun(fl *pflag.FlagSet) {
	fl.StringSliceVar(&b.cfg.Brokers, "brokers", []string{"localhost:9092"}, "seed brokers, comma separated")
	fl.Int16Var(&b.cfg.ReplicationFactor, "replication-factor", 1, "replication factor when the topic is created")
	fl.DurationVar(&b.cfg.Progress, "progress", time.Second, "progress line interval on stderr (0: off)")
	fl.DurationVar(&b.cfg.DrainTimeout, "drain-timeout", 30*time.Second, "bound on waiting for in-flight records at the end, and on a run without progress")
	fl.BoolVar(&b.json, "json", false, "print a JSON summary on stdout (the table goes to stderr)")
	fl.StringVar(&b.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

// resolve applies the flag rules that need to know what was set.
func (b *benchCommon) resolve(cmd *cobra.Command) error {
	fl := cmd.Flags()
	if fl.Changed("records") {
		if fl.Changed("duration") {
			return fmt.Errorf("--records and --duration: set one of them")
		}
		if b.cfg.Records <= 0 {
			return fmt.Errorf("--records %d: want > 0", b.cfg.Records)
		}
		b.cfg.Duration = 0
		fl.Set("duration", "0s") // so the summary's config shows what ran
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(b.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	b.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	b.cfg.ProgressOut = os.Stderr
	return nil
}

// benchProduce are the producer flags (produce and e2e).
type benchProduce struct {
	cfg  bench.ProduceConfig
	acks string
}

func (b *benchProduce) register(fl *pflag.FlagSet) {
	b.registerClient(fl)
	fl.IntVar(&b.cfg.Producers, "producers", 1, "independent producer clients")
	fl.Float64Var(&b.cfg.Rate, "rate", 0, "target records/s across all producers, open loop (0: closed loop, as fast as possible)")
	fl.IntVar(&b.cfg.Keys, "keys", 0, "distinct record keys cycled through (0: no keys)")
}

// registerClient registers the settings of each producer client (what
// OMB calls the driver's producer configuration).
func (b *benchProduce) registerClient(fl *pflag.FlagSet) {
	fl.StringVar(&b.acks, "acks", "all", "acks: 0, 1 or all")
	fl.StringVar(&b.cfg.Compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	fl.DurationVar(&b.cfg.Linger, "linger", 0, "producer linger")
	fl.Int32Var(&b.cfg.BatchBytes, "batch-bytes", 1<<20, "maximum batch bytes (franz-go ProducerBatchMaxBytes)")
	fl.BoolVar(&b.cfg.Idempotent, "idempotent", false, "idempotent producer (default true with --acks all; needs it)")
	fl.IntVar(&b.cfg.MaxInflight, "max-inflight", 0, "produce requests in flight per broker without idempotence (0: franz-go default, 1)")
	fl.IntVar(&b.cfg.MaxBufferedRecords, "max-buffered-records", 0, "records buffered per producer before sending blocks (0: franz-go default, 50000)")
}

// resolve resolves the common flags too.
func (b *benchProduce) resolve(cmd *cobra.Command, common *benchCommon) error {
	if err := common.resolve(cmd); err != nil {
		return err
	}
	acks, err := bench.ParseAcks(b.acks)
	if err != nil {
		return err
	}
	b.cfg.Acks = acks
	if !cmd.Flags().Changed("idempotent") {
		b.cfg.Idempotent = acks == bench.AcksAll
		cmd.Flags().Set("idempotent", strconv.FormatBool(b.cfg.Idempotent)) // shown in the summary's config
	}
	b.cfg.Common = common.cfg
	return nil
}

func registerFetch(fl *pflag.FlagSet, f *bench.Fetch) {
	fl.Int32Var(&f.MaxBytes, "fetch-max-bytes", 0, "fetch response bytes (0: franz-go default, 50 MiB)")
	fl.Int32Var(&f.MaxPartitionBytes, "fetch-max-partition-bytes", 0, "fetch bytes per partition (0: franz-go default, 1 MiB)")
	fl.DurationVar(&f.MaxWait, "fetch-max-wait", 500*time.Millisecond, "longest wait of a fetch for data")
}

func benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark a broker: produce, consume, end-to-end, OpenMessaging Benchmark workload files",
		Long:  benchLong,
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(benchProduceCmd(), benchConsumeCmd(), benchE2ECmd(), benchWorkloadCmd())
	return cmd
}

func benchProduceCmd() *cobra.Command {
	var common benchCommon
	var prod benchProduce
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce records and measure throughput and ack latency",
		Long:  benchLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := prod.resolve(cmd, &common); err != nil {
				return err
			}
			return runBench(cmd, &common, func(ctx context.Context) (*bench.Result, error) {
				return bench.RunProduce(ctx, prod.cfg)
			})
		},
	}
	common.register(cmd.Flags())
	prod.register(cmd.Flags())
	return cmd
}

func benchConsumeCmd() *cobra.Command {
	var common benchCommon
	var cfg bench.ConsumeConfig
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Read a topic from the start of each partition and measure throughput",
		Long: benchLong + `

consume assigns every partition directly (no consumer group) from its log
start; the topic must exist. It stops early when no record arrives for
--drain-timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := common.resolve(cmd); err != nil {
				return err
			}
			cfg.Common = common.cfg
			return runBench(cmd, &common, func(ctx context.Context) (*bench.Result, error) {
				return bench.RunConsume(ctx, cfg)
			})
		},
	}
	common.register(cmd.Flags())
	registerFetch(cmd.Flags(), &cfg.Fetch)
	return cmd
}

func benchE2ECmd() *cobra.Command {
	var common benchCommon
	var prod benchProduce
	var fetch bench.Fetch
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "Produce and consume in one process; measure ack and end-to-end latency",
		Long: benchLong + `

e2e starts a consumer at the partitions' end offsets, then produces (use
--rate for open loop). End-to-end latency is the consumer's receive time
minus the time stamped in the record: the intended send time under --rate,
the time of the send call otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := prod.resolve(cmd, &common); err != nil {
				return err
			}
			cfg := bench.E2EConfig{ProduceConfig: prod.cfg, Fetch: fetch}
			return runBench(cmd, &common, func(ctx context.Context) (*bench.Result, error) {
				return bench.RunE2E(ctx, cfg)
			})
		},
	}
	common.register(cmd.Flags())
	prod.register(cmd.Flags())
	registerFetch(cmd.Flags(), &fetch)
	return cmd
}

// runBench runs a workload until done or interrupted and prints its
// summary; a run that measured nothing or stopped early still prints, then
// fails.
func runBench(cmd *cobra.Command, common *benchCommon, run func(context.Context) (*bench.Result, error)) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, runErr := run(ctx)
	if res == nil {
		return runErr
	}
	res.Config = flagValues(cmd.Flags())
	for k, v := range common.config {
		res.Config.(map[string]any)[k] = v
	}
	table := io.Writer(os.Stdout)
	if common.json {
		table = os.Stderr
	}
	if err := res.WriteTable(table); err != nil {
		return err
	}
	if common.json {
		if err := res.WriteJSON(os.Stdout); err != nil {
			return err
		}
	}
	if runErr == nil && res.StoppedEarly != "" {
		// The numbers are printed, but they are not those of the run asked for.
		runErr = fmt.Errorf("bench: run stopped early: %s", res.StoppedEarly)
	}
	return runErr
}

// flagValues is every flag of the command with its value (set or default),
// typed as in JSON: numbers, booleans, lists, strings (durations as "10s").
func flagValues(fl *pflag.FlagSet) map[string]any {
	out := make(map[string]any)
	fl.VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		switch f.Value.Type() {
		case "bool":
			out[f.Name] = f.Value.String() == "true"
		case "int", "int16", "int32", "int64", "float64":
			out[f.Name] = json.Number(f.Value.String())
		case "stringSlice":
			out[f.Name], _ = fl.GetStringSlice(f.Name)
		default:
			out[f.Name] = f.Value.String()
		}
	})
	return out
}
