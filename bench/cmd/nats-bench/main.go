// Command nats-bench runs the workloads of `gregor bench` against NATS
// JetStream and prints the same summary (the JSON of gregor's
// internal/bench.Result with --json), so bench/run.sh can put both side by
// side.
//
// Mapping of the Kafka notions:
//   - a topic with N partitions is N streams "<stream>-0" … "<stream>-N-1"
//     (file storage, one replica), stream i holding subject "<stream>.i";
//     producers spread records over them round-robin;
//   - a produce acknowledgement is the JetStream publish ack (PubAck): the
//     message is stored in the stream. With one replica acks=1 and acks=all
//     are the same thing; both are accepted. Durability (fsync before the
//     ack or not) is the server's jetstream sync_interval;
//   - async publishing with a bounded window: each producer (its own
//     connection) keeps at most --window publishes awaiting their PubAck,
//     nats.go's default PublishAsyncMaxPending (4000). The publish and ack
//     are those of nats.go's PublishAsync (a publish with a reply inbox per
//     message); the harness does it itself to time each message;
//   - consume reads every stream from its first message with a pull
//     consumer (no acks, like a Kafka fetch), pulling --pull-batch messages
//     at a time;
//   - workload FILE runs an OpenMessaging Benchmark workload file, read
//     and scaled by gregor's parser (internal/bench: LoadOMBWorkload, Plan;
//     the same --duration, --warmup, --rate-scale, --backlog-scale as
//     `gregor bench workload`). Each of the file's topics is
//     partitionsPerTopic streams "<stream>-<runid>-NNNN-<i>" as above;
//     producersPerTopic producers per topic share the topic's part of
//     producerRate (one open-loop schedule per topic) and spread over its
//     streams round-robin, whatever the keyDistributor (JetStream has no
//     keyed partitions here). A subscription (the Kafka consumer group)
//     is one durable pull consumer per stream, without acks, shared by the
//     subscription's consumerPerSubscription consumers, each its own
//     connection pulling from every stream of the topic: several
//     subscribers of one JetStream pull consumer each get a share of its
//     messages, which is the queue/group equivalent. Every subscription
//     gets every message; the summary counts, per subscription, the
//     sequence numbers received, missing and duplicated. After the
//     producers stop, the consumers read on until every subscription has
//     every acknowledged message (or --drain-timeout without progress).
//     The streams are deleted at the end unless --keep-streams. With a
//     consumerBacklogSizeGB the phases are RunOMB's: after the warm-up the
//     durable consumers are paused (JetStream's consumer pause: nothing is
//     delivered, the pullers stay subscribed) until the backlog waits,
//     then resumed; the test duration starts when it is drained.
//
// Timing is that of gregor bench: open loop under --rate (latency from the
// intended send time), warm-up samples discarded, throughput over value
// bytes in MiB/s, HDR histograms in microseconds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gregor-dev/gregor/internal/bench"
)

const usage = `usage: nats-bench produce|consume|e2e [flags]
       nats-bench workload FILE [flags]

Workloads of gregor bench against NATS JetStream; see the package comment
(go doc ./bench/cmd/nats-bench) for how Kafka notions map to streams.
Run "nats-bench WORKLOAD -h" for the flags.
`

// config is every setting of a run; not all workloads use all of them.
type config struct {
	server       string
	stream       string
	partitions   int
	recordSize   int
	records      int64
	duration     time.Duration
	warmup       time.Duration
	drainTimeout time.Duration
	progress     time.Duration
	producers    int
	window       int
	rate         float64
	acks         string
	pullBatch    int
	keepStreams  bool
	json         bool
	log          *slog.Logger
}

func (c *config) streamName(i int) string { return fmt.Sprintf("%s-%d", c.stream, i) }
func (c *config) subject(i int) string    { return fmt.Sprintf("%s.%d", c.stream, i) }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	workload := os.Args[1]
	if workload == "workload" {
		os.Exit(workloadMain(os.Args[2:]))
	}
	var run func(context.Context, *config) (*bench.Result, error)
	switch workload {
	case "produce":
		run = runProduce
	case "consume":
		run = runConsume
	case "e2e":
		run = runE2E
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var cfg config
	fl := flag.NewFlagSet("nats-bench "+workload, flag.ExitOnError)
	fl.StringVar(&cfg.server, "server", "nats://127.0.0.1:4222", "NATS server URL")
	fl.StringVar(&cfg.stream, "stream", "bench", "stream name prefix (streams <stream>-<i>, subjects <stream>.<i>)")
	fl.IntVar(&cfg.partitions, "partitions", 1, "streams to spread over (the Kafka partitions)")
	fl.IntVar(&cfg.recordSize, "record-size", 1024, fmt.Sprintf("message payload bytes (>= %d)", bench.HeaderSize))
	fl.Int64Var(&cfg.records, "records", 0, "measured records to run for (instead of --duration)")
	fl.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time to run for (instead of --records)")
	fl.DurationVar(&cfg.warmup, "warmup", 0, "warm-up before the measured phase; its samples are discarded")
	fl.DurationVar(&cfg.drainTimeout, "drain-timeout", 30*time.Second, "bound on waiting for in-flight records, and on a run without progress")
	fl.DurationVar(&cfg.progress, "progress", time.Second, "progress line interval on stderr (0: off)")
	fl.BoolVar(&cfg.json, "json", false, "print a JSON summary on stdout (the table goes to stderr)")
	if workload != "consume" {
		fl.IntVar(&cfg.producers, "producers", 1, "independent producer connections")
		fl.IntVar(&cfg.window, "window", 4000, "publishes awaiting their ack per producer (nats.go's PublishAsyncMaxPending default)")
		fl.Float64Var(&cfg.rate, "rate", 0, "target records/s across all producers, open loop (0: closed loop)")
		fl.StringVar(&cfg.acks, "acks", "all", "1 or all: both wait for the JetStream publish ack")
	}
	if workload != "produce" {
		fl.IntVar(&cfg.pullBatch, "pull-batch", 4096, "messages per pull request of a consumer")
	}
	fl.Parse(os.Args[2:])
	cfg.log = newLogger()
	if err := cfg.validate(fl); err != nil {
		cfg.log.Error("nats-bench: " + err.Error())
		os.Exit(2)
	}

	ctx, stop := signalContext()
	defer stop()
	res, err := run(ctx, &cfg)
	if err := report(&cfg, res, flagValues(fl), err); err != nil {
		cfg.log.Error("nats-bench: " + err.Error())
		os.Exit(1)
	}
}

func newLogger() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// report prints res (a table, and the JSON with --json) with its config
// and returns the run's error, or why it stopped early.
func report(cfg *config, res *bench.Result, config map[string]any, err error) error {
	if res != nil {
		res.Config = config
		out := os.Stdout
		if cfg.json {
			out = os.Stderr
		}
		if werr := res.WriteTable(out); werr != nil && err == nil {
			err = werr
		}
		if cfg.json {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			if werr := enc.Encode(res); werr != nil && err == nil {
				err = werr
			}
		}
		if err == nil && res.StoppedEarly != "" {
			err = fmt.Errorf("run stopped early: %s", res.StoppedEarly)
		}
	}
	return err
}

var errConfig = errors.New("invalid configuration")

func (c *config) validate(fl *flag.FlagSet) error {
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["records"] {
		if set["duration"] {
			return fmt.Errorf("%w: --records and --duration: set one of them", errConfig)
		}
		if c.records <= 0 {
			return fmt.Errorf("%w: --records %d: want > 0", errConfig, c.records)
		}
		c.duration = 0
		fl.Set("duration", "0s") // so the summary's config shows what ran
	}
	switch {
	case c.partitions < 1:
		return fmt.Errorf("%w: --partitions %d: want >= 1", errConfig, c.partitions)
	case c.recordSize < bench.HeaderSize:
		return fmt.Errorf("%w: --record-size %d: want >= %d", errConfig, c.recordSize, bench.HeaderSize)
	case c.drainTimeout <= 0:
		return fmt.Errorf("%w: --drain-timeout must be > 0", errConfig)
	case fl.Lookup("producers") != nil && (c.producers < 1 || c.window < 1 || c.rate < 0):
		return fmt.Errorf("%w: --producers and --window want >= 1, --rate >= 0", errConfig)
	case fl.Lookup("acks") != nil && c.acks != "1" && c.acks != "all" && c.acks != "-1":
		return fmt.Errorf("%w: --acks %q: want 1 or all (JetStream always acknowledges a stored message)", errConfig, c.acks)
	case fl.Lookup("pull-batch") != nil && c.pullBatch < 1:
		return fmt.Errorf("%w: --pull-batch %d: want >= 1", errConfig, c.pullBatch)
	}
	return nil
}

// flagValues is every flag with its value, typed as gregor bench types
// them in its summary's config (numbers, booleans, strings; durations as
// "10s").
func flagValues(fl *flag.FlagSet) map[string]any {
	out := make(map[string]any)
	fl.VisitAll(func(f *flag.Flag) {
		switch v := f.Value.(flag.Getter).Get().(type) {
		case bool:
			out[f.Name] = v
		case int, int64, float64:
			out[f.Name] = json.Number(f.Value.String())
		default:
			out[f.Name] = f.Value.String()
		}
	})
	return out
}
