package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gregor-dev/gregor/internal/bench"
)

const benchWorkloadLong = benchLong + `

workload runs a workload file of the OpenMessaging Benchmark (OMB; see
bench/workloads/README.md) against the brokers, as OMB's workload
generator does: it creates the file's topics under fresh names
(--topic-prefix), starts subscriptionsPerTopic consumer groups of
consumerPerSubscription members on each, waits until every group has every
partition, then produces at producerRate (messages/s over all producers;
0: as fast as they go) for the warm-up and the test. With
consumerBacklogSizeGB the consumers pause after the warm-up until that
backlog waits for them, then resume; the test duration starts when it is
drained. At the end the consumers read on until every subscription has
every acknowledged message, and the summary says what was missing or
duplicated; the topics are deleted unless --keep-topics.

Unknown fields in the file are refused. --duration, --warmup,
--rate-scale and --backlog-scale fit a file to a small machine without
editing it, and each value they change is printed. The producer flags
default to OMB's Kafka driver (acks=all, linger 1ms, 1 MiB batches;
consumers fetch up to 10 MiB per partition).`

func benchWorkloadCmd() *cobra.Command {
	var common benchCommon
	var prod benchProduce
	var fetch bench.Fetch
	var over bench.OMBOverrides
	var prefix string
	var keep bool
	cmd := &cobra.Command{
		Use:   "workload FILE",
		Short: "Run an OpenMessaging Benchmark workload file; measure publish, consume and end-to-end latency",
		Long:  benchWorkloadLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := prod.resolve(cmd, &common); err != nil {
				return err
			}
			w, err := bench.LoadOMBWorkload(args[0])
			if err != nil {
				return err
			}
			for _, name := range []string{"rate-scale", "backlog-scale"} {
				if v, _ := cmd.Flags().GetFloat64(name); !(v > 0) {
					return fmt.Errorf("--%s %g: want > 0", name, v)
				}
			}
			over.WarmupSet = cmd.Flags().Changed("warmup")
			plan, err := w.Plan(over)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "workload %q from %s: %s after a %s warm-up\n", w.Name, args[0], plan.Duration, plan.Warmup)
			for _, c := range plan.Changes {
				fmt.Fprintf(os.Stderr, "  scaled: %s\n", c)
			}
			common.config = map[string]any{"file": args[0], "plan": plan}
			cfg := bench.OMBConfig{ProduceConfig: prod.cfg, Fetch: fetch, Plan: *plan, TopicPrefix: prefix, KeepTopics: keep}
			return runBench(cmd, &common, func(ctx context.Context) (*bench.Result, error) {
				return bench.RunOMB(ctx, cfg)
			})
		},
	}
	fl := cmd.Flags()
	common.registerRun(fl)
	prod.registerClient(fl)
	registerFetch(fl, &fetch)
	// OMB's Kafka driver (driver-kafka/kafka-throughput.yaml).
	setDefault(fl, "linger", "1ms")
	setDefault(fl, "fetch-max-partition-bytes", "10485760")
	fl.DurationVar(&over.Duration, "duration", 0, "test duration instead of the file's testDurationMinutes (0: the file's)")
	fl.DurationVar(&over.Warmup, "warmup", 0, "warm-up instead of the file's warmupDurationMinutes (when given, even 0)")
	fl.Float64Var(&over.RateScale, "rate-scale", 1, "multiply the file's producerRate")
	fl.Float64Var(&over.BacklogScale, "backlog-scale", 1, "multiply the file's consumerBacklogSizeGB")
	fl.StringVar(&prefix, "topic-prefix", "omb", "topics are PREFIX-RUNID-NNNN, RUNID random")
	fl.BoolVar(&keep, "keep-topics", false, "leave the run's topics in place (they are deleted otherwise)")
	return cmd
}

// setDefault changes a registered flag's default, in the help too.
func setDefault(fl *pflag.FlagSet, name, value string) {
	f := fl.Lookup(name)
	if err := f.Value.Set(value); err != nil {
		panic(fmt.Sprintf("default of --%s: %v", name, err))
	}
	f.DefValue = value
}
