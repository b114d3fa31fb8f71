package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/gregor-dev/gregor/internal/bench"
	"github.com/gregor-dev/gregor/internal/verify"
)

const verifyLong = `Run a workload against the cluster and check what it did: producers write
values naming the run, the producer and a sequence number ("RUN-pN-SEQ");
plain consumers (every partition from the start) and, with --group, group
members that commit read them while they are written; once the producers
stop, a final read goes through every partition from the start to the high
watermark. The topic is created when missing. Values of other runs on the
same topic are ignored.

Anomalies:
  lost                 acknowledged, never read, below the highest offset
                       read in its partition
  unseen               acknowledged, never read, not below it (the final read
                       should reach everything, so this fails the run too)
  duplicated           one value read at two offsets
  inconsistent_offsets one offset seen with two values (two reads, or a read
                       and the acknowledgement of another value there); an
                       acknowledged offset holding another value counts here,
                       not as lost
  reordered            a producer's sequence going backwards in a partition,
                       in offset order, as one reader saw it
  aborted_reads        a value read whose send was refused (a non-retriable
                       error), or, with --transactional, whose transaction
                       was aborted
  commits_backwards    the group's committed offset of a partition observed
                       lower than before

The report (a table, or JSON with --json or --format json) lists the counts
and the first examples of each kind. Progress goes to stderr every second.
The exit status is 0 only when every count is zero.`

type verifyFlags struct {
	topic          string
	partitions     int32
	rf             int16
	duration       time.Duration
	rate           float64
	producers      int
	consumers      int
	group          string
	groupConsumers int
	acks           string
	idempotent     bool
	transactional  bool
	compression    string
	drainTimeout   time.Duration
	json           bool
	quiet          bool
}

func verifyCmd(g *globals) *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a cluster: run a workload, report lost, duplicated, reordered records",
		Long:  verifyLong,
		Example: `  gregor verify --topic verify --partitions 6 --duration 60s
  gregor verify -b k1:9092,k2:9092 --topic verify --acks all --idempotent --group verify-g --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(g, cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.topic, "topic", "t", "gregor-verify", "topic to write and read (created when missing)")
	fl.Int32VarP(&f.partitions, "partitions", "p", 3, "partitions of the topic when it is created")
	fl.Int16VarP(&f.rf, "replication-factor", "r", -1, "replication factor of the topic when it is created (-1: the broker's default)")
	fl.DurationVarP(&f.duration, "duration", "d", 60*time.Second, "how long the producers write")
	fl.Float64Var(&f.rate, "rate", 1000, "records per second of all producers together (0: as fast as possible)")
	fl.IntVar(&f.producers, "producers", 2, "producers, each its own client")
	fl.IntVar(&f.consumers, "consumers", 2, "plain consumers, each assigned every partition from the start")
	fl.StringVarP(&f.group, "group", "g", "", "also read with members of this consumer group, committing, and watch its commits")
	fl.IntVar(&f.groupConsumers, "group-consumers", 0, "members of --group (0: as many as --consumers, at least 1)")
	fl.StringVar(&f.acks, "acks", "all", "acks: 0, 1 or all")
	fl.BoolVar(&f.idempotent, "idempotent", false, "idempotent producers (acks all)")
	fl.BoolVar(&f.transactional, "transactional", false, "transactional producers, every 5th transaction aborted; readers read committed")
	fl.StringVarP(&f.compression, "compression", "z", "none", "none, gzip, snappy, lz4 or zstd")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Second, "wait for consumers to catch up after producing; the final read gives up after this long without a record")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON (as --format json)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress lines on stderr")
	return cmd
}

// verifyReport is the JSON of gregor verify: the checker's report and the
// run's settings.
type verifyReport struct {
	Topic    string        `json:"topic"`
	Duration time.Duration `json:"duration_ns"`
	*verify.Report
}

func runVerify(g *globals, cmd *cobra.Command, f *verifyFlags) error {
	s, stop := newSession(g, cmd, false)
	defer stop()
	if err := s.jsonOrText(); err != nil {
		return err
	}
	s.asJSON = s.asJSON || f.json
	acks, err := bench.ParseAcks(f.acks)
	if err != nil {
		return fmt.Errorf("--acks %q: want 0, 1 or all", f.acks)
	}
	codec, err := bench.CompressionCodec(f.compression)
	if err != nil {
		return fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", f.compression)
	}
	if len(g.brokers) == 0 {
		return errors.New("no brokers: set --brokers or " + EnvBrokers)
	}
	cfg := verify.Config{
		Brokers:           g.brokers,
		Topic:             f.topic,
		Partitions:        f.partitions,
		ReplicationFactor: f.rf,
		Duration:          f.duration,
		Rate:              f.rate,
		Producers:         f.producers,
		Consumers:         f.consumers,
		Group:             f.group,
		GroupConsumers:    f.groupConsumers,
		Acks:              acks,
		Idempotent:        f.idempotent,
		Transactional:     f.transactional,
		Compression:       codec,
		Timeout:           g.timeout,
		DrainTimeout:      f.drainTimeout,
		Logger:            slog.New(slog.NewTextHandler(s.errOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if !f.quiet {
		cfg.Progress = progressLines(s.errOut)
	}
	start := time.Now()
	h, err := verify.Run(s.ctx, cfg)
	if err != nil {
		return err
	}
	r := verify.Check(h)
	if s.asJSON {
		err = writeJSON(s.out, verifyReport{Topic: f.topic, Duration: time.Since(start), Report: r})
	} else {
		err = printVerifyReport(s.out, f.topic, time.Since(start), r)
	}
	if err != nil {
		return err
	}
	if !r.OK {
		n := 0
		for _, a := range r.Anomalies {
			n += a.Count
		}
		return fmt.Errorf("verify: %d anomalies in run %s", n, r.Run)
	}
	return nil
}

// progressLines returns a progress callback printing one line per call:
// totals and the rates since the previous line.
func progressLines(w io.Writer) func(verify.Stats) {
	var prev verify.Stats
	return func(st verify.Stats) {
		secs := (st.Elapsed - prev.Elapsed).Seconds()
		if secs <= 0 {
			secs = 1
		}
		rate := func(now, before int64) float64 { return float64(now-before) / secs }
		fmt.Fprintf(w, "verify %5.1fs %-10s sent %d (%.0f/s)  acked %d (%.0f/s)  errors %d  read %d (%.0f/s)\n",
			st.Elapsed.Seconds(), st.Phase, st.Sent, rate(st.Sent, prev.Sent), st.Acked, rate(st.Acked, prev.Acked),
			st.Errors, st.Read, rate(st.Read, prev.Read))
		prev = st
	}
}

func printVerifyReport(w io.Writer, topic string, took time.Duration, r *verify.Report) error {
	fmt.Fprintf(w, "run %s on topic %s, %.1fs\n", r.Run, topic, took.Seconds())
	t := newTable(w, "SENT", "ACKNOWLEDGED", "FAILED", "INDETERMINATE", "ABORTED", "READS", "VALUES-READ", "OTHER-READS")
	t.row(r.Sent, r.Acknowledged, r.Failed, r.Indeterminate, r.Aborted, r.Reads, r.ValuesRead, r.OtherReads)
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "ANOMALY", "COUNT")
	for _, a := range r.Anomalies {
		t.row(a.Kind, a.Count)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, a := range r.Anomalies {
		if len(a.Examples) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s, first %d:\n", a.Kind, len(a.Examples))
		for _, e := range a.Examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	verdict := "OK: no anomalies"
	if !r.OK {
		verdict = "FAILED: anomalies found"
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict)
	return err
}
