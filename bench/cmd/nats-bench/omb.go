package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gregor-dev/gregor/internal/bench"
)

const (
	// ombUnbounded is the producers' duration with a backlog: the test
	// duration is set once the backlog is drained (bench.RunOMB's).
	ombUnbounded = 100 * 365 * 24 * time.Hour
	// ombDrainFloor is OMB's: a backlog of fewer messages counts as
	// drained whatever the drain ratio (bench.RunOMB's).
	ombDrainFloor = 1000
)

// ombRun is one workload file run: per topic a produceRun over its
// streams (one schedule per topic, the topic's share of producerRate) and
// its subscriptions.
type ombRun struct {
	cfg    *config
	plan   *bench.OMBPlan
	topics []*config // per topic: stream prefix, partitions, producers, rate
	runs   []*produceRun
	subs   []*ombSub

	lat, e2e *bench.Histogram
	perrs    *errorLog
	cerrs    *errorLog

	warmupEndUnix   atomic.Int64
	received        atomic.Int64
	measuredRecords atomic.Int64
	measuredBytes   atomic.Int64
	lastRecv        atomic.Int64
}

// ombSub is one subscription of one topic: a durable pull consumer per
// stream, shared by the subscription's consumers.
type ombSub struct {
	topic    int
	name     string
	conns    []*nats.Conn
	ccs      []jetstream.ConsumeContext
	received atomic.Int64

	seqs bench.SeqSet
}

func (o *ombRun) close() {
	for _, s := range o.subs {
		for _, cc := range s.ccs {
			cc.Stop()
		}
		for _, nc := range s.conns {
			nc.Close()
		}
	}
	for _, r := range o.runs {
		r.close()
	}
}

// handler counts one subscription's messages.
func (o *ombRun) handler(tb bench.Timebase, s *ombSub) jetstream.MessageHandler {
	return func(m jetstream.Msg) {
		now := tb.UnixNano(time.Now())
		d := m.Data()
		s.received.Add(1)
		o.received.Add(1)
		sent, ok := decodeSentTime(d)
		if !ok {
			o.cerrs.add(fmt.Sprintf("message of %d bytes: shorter than the record header", len(d)))
			return
		}
		s.seqs.Mark(int64(binary.BigEndian.Uint64(d[8:16])))
		if sent >= o.warmupEndUnix.Load() {
			o.e2e.Record(time.Duration(now - sent))
		}
		if now >= o.warmupEndUnix.Load() {
			o.measuredRecords.Add(1)
			o.measuredBytes.Add(int64(len(d)))
			storeMax(&o.lastRecv, now)
		}
	}
}

// startSubs creates each subscription's durable consumers and its
// consumers' pulls (one connection per consumer).
func (o *ombRun) startSubs(ctx context.Context, js jetstream.JetStream, tb bench.Timebase) error {
	w := &o.plan.Workload
	for t, tc := range o.topics {
		for si := range w.SubscriptionsPerTopic {
			s := &ombSub{topic: t, name: fmt.Sprintf("sub-%03d", si)}
			o.subs = append(o.subs, s)
			for p := range tc.partitions {
				_, err := js.CreateOrUpdateConsumer(ctx, tc.streamName(p), jetstream.ConsumerConfig{
					Durable:       s.name,
					AckPolicy:     jetstream.AckNonePolicy,
					DeliverPolicy: jetstream.DeliverAllPolicy,
				})
				if err != nil {
					return fmt.Errorf("consumer %s on %s: %w", s.name, tc.streamName(p), err)
				}
			}
			h := o.handler(tb, s)
			for ci := range w.ConsumerPerSubscription {
				nc, err := connect(o.cfg, fmt.Sprintf("%s %s consumer %d", tc.stream, s.name, ci))
				if err != nil {
					return err
				}
				s.conns = append(s.conns, nc)
				cjs, err := jetstream.New(nc)
				if err != nil {
					return err
				}
				for p := range tc.partitions {
					cons, err := cjs.Consumer(ctx, tc.streamName(p), s.name)
					if err != nil {
						return fmt.Errorf("consumer %s on %s: %w", s.name, tc.streamName(p), err)
					}
					cc, err := cons.Consume(h, jetstream.PullMaxMessages(o.cfg.pullBatch),
						jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { o.cerrs.add(err.Error()) }))
					if err != nil {
						return fmt.Errorf("consume %s: %w", tc.streamName(p), err)
					}
					s.ccs = append(s.ccs, cc)
				}
			}
		}
	}
	return nil
}

// complete reports whether every subscription has every message its
// topic's producers had acknowledged.
func (o *ombRun) complete() bool {
	for _, s := range o.subs {
		if u, _ := s.seqs.Counts(); u < o.runs[s.topic].all.records.Load() {
			return false
		}
	}
	return true
}

func (o *ombRun) acked() int64 {
	var n int64
	for _, r := range o.runs {
		n += r.all.records.Load()
	}
	return n
}

// runOMB runs a planned workload as bench.RunOMB does without a backlog:
// streams and consumers first, then producing for the warm-up and the
// duration; then the consumers read on until every subscription has every
// acknowledged message, or nothing arrives for the drain timeout.
func runOMB(ctx context.Context, cfg *config, plan *bench.OMBPlan) (*bench.Result, error) {
	w := &plan.Workload
	var id [3]byte
	rand.Read(id[:])
	runID := hex.EncodeToString(id[:])
	o := &ombRun{cfg: cfg, plan: plan, lat: bench.NewHistogram(), e2e: bench.NewHistogram(),
		perrs: newErrorLog("publish", cfg.log), cerrs: newErrorLog("consume", cfg.log)}
	o.warmupEndUnix.Store(1<<63 - 1)
	defer o.close()

	admin, err := connect(cfg, "admin")
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	js, err := jetstream.New(admin)
	if err != nil {
		return nil, err
	}
	var topicNames []string
	for t := range w.Topics {
		tc := *cfg
		tc.stream = fmt.Sprintf("%s-%s-%04d", cfg.stream, runID, t)
		tc.partitions = w.PartitionsPerTopic
		tc.recordSize = w.MessageSize
		tc.producers = w.ProducersPerTopic
		tc.rate = w.ProducerRate / float64(w.Topics)
		tc.records, tc.warmup, tc.duration = 0, plan.Warmup, plan.Duration
		if w.ConsumerBacklogSizeGB > 0 {
			tc.duration = ombUnbounded
		}
		if err := ensureStreams(ctx, admin, &tc); err != nil {
			return nil, err
		}
		o.topics = append(o.topics, &tc)
		topicNames = append(topicNames, tc.stream)
	}
	if !cfg.keepStreams {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), cfg.drainTimeout)
			defer cancel()
			for _, tc := range o.topics {
				for p := range tc.partitions {
					if err := js.DeleteStream(dctx, tc.streamName(p)); err != nil {
						cfg.log.Warn("nats-bench: deleting the run's streams", "err", err)
						return
					}
				}
			}
		}()
	}
	tb := bench.NewTimebase(time.Now())
	if err := o.startSubs(ctx, js, tb); err != nil {
		return nil, err
	}
	for _, tc := range o.topics {
		r, err := newProduceRun(tc)
		if err != nil {
			return nil, err
		}
		r.lat, r.errs = o.lat, o.perrs
		o.runs = append(o.runs, r)
	}
	start := time.Now()
	for _, r := range o.runs {
		r.begin(tb, start)
	}
	o.warmupEndUnix.Store(o.runs[0].warmupEndUnix)
	o.lastRecv.Store(o.runs[0].warmupEndUnix)
	var all counters // progress only
	stopProgress := startProgress(cfg.progress, start, "received", &all, o.e2e)
	progressCtx, stopCount := context.WithCancel(ctx)
	go func() { // feeds the progress line
		for progressCtx.Err() == nil {
			all.records.Store(o.received.Load())
			time.Sleep(100 * time.Millisecond)
		}
	}()

	prodCtx, prodCancel := context.WithCancel(ctx)
	defer prodCancel()
	prodDone := make(chan string, len(o.runs))
	for _, r := range o.runs {
		go func() { prodDone <- r.run(prodCtx) }()
	}
	var prodStopped []string
	var consStopped string
	lastReceived, lastProgress := o.received.Load(), time.Now()
	subs := int64(w.SubscriptionsPerTopic)
	target := w.BacklogRecords()
	var bl *bench.OMBBacklogSummary
	if target > 0 {
		bl = &bench.OMBBacklogSummary{TargetRecords: target,
			DrainedLevel: max(ombDrainFloor, int64((1-w.BacklogDrainRatio)*float64(target)))}
	}
	warmupEnd := o.runs[0].sched.WarmupEnd()
	phase := bench.OMBPhaseLoad
	var phaseStart time.Time
	var resumeReceived, maxBacklog int64
	lastGrowth := lastProgress
loop:
	for {
		select {
		case s := <-prodDone:
			prodStopped = append(prodStopped, s)
			continue
		case <-time.After(10 * time.Millisecond):
		}
		if ctx.Err() != nil {
			consStopped = "interrupted"
			break
		}
		producing := len(prodStopped) < len(o.runs)
		now := time.Now()
		received := o.received.Load()
		backlog := subs*o.acked() - received
		switch {
		case phase == bench.OMBPhaseLoad && bl != nil && !now.Before(warmupEnd):
			cfg.log.Info("nats-bench: consumers paused to build the backlog", "records", target)
			if err := o.pause(ctx, js, true); err != nil {
				consStopped = err.Error()
				break loop
			}
			phase, phaseStart = bench.OMBPhaseBuild, now
		case phase == bench.OMBPhaseBuild && backlog >= target:
			if err := o.pause(ctx, js, false); err != nil {
				consStopped = err.Error()
				break loop
			}
			bl.RecordsAtResume, bl.BuildS = backlog, now.Sub(phaseStart).Seconds()
			cfg.log.Info("nats-bench: backlog built; consumers resumed", "records", backlog, "build_s", bl.BuildS)
			phase, phaseStart, resumeReceived = bench.OMBPhaseDrain, now, received
		case phase == bench.OMBPhaseDrain && backlog <= bl.DrainedLevel:
			bl.Drained, bl.DrainS = true, now.Sub(phaseStart).Seconds()
			if bl.DrainS > 0 {
				bl.DrainRecordsPerS = float64(received-resumeReceived) / bl.DrainS
			}
			cfg.log.Info("nats-bench: backlog drained", "drain_s", bl.DrainS, "then", plan.Duration)
			for _, r := range o.runs {
				r.sched.Stop(now.Add(plan.Duration))
			}
			phase = bench.OMBPhaseSteady
		}
		if !producing && phase <= bench.OMBPhaseBuild && bl != nil {
			consStopped = "the producers stopped before the backlog was built"
			if err := o.pause(ctx, js, false); err != nil {
				consStopped += "; " + err.Error()
				break
			}
			phase = bench.OMBPhaseSteady
		}
		owed := !producing && !o.complete() || producing && backlog > 0 && phase != bench.OMBPhaseBuild
		if received != lastReceived || !owed {
			lastReceived, lastProgress = received, now
		}
		if phase != bench.OMBPhaseBuild || backlog > maxBacklog {
			maxBacklog, lastGrowth = max(backlog, maxBacklog), now
		}
		if !producing && !owed {
			break
		}
		if owed && now.Sub(lastProgress) >= cfg.drainTimeout {
			consStopped = fmt.Sprintf("no record received for %s while %d were owed",
				cfg.drainTimeout, max(backlog, 0))
			break
		}
		if now.Sub(lastGrowth) >= cfg.drainTimeout {
			consStopped = fmt.Sprintf("the backlog did not grow for %s while being built (%d of %d records)",
				cfg.drainTimeout, backlog, target)
			break
		}
	}
	if len(prodStopped) < len(o.runs) {
		prodCancel()
		for len(prodStopped) < len(o.runs) {
			prodStopped = append(prodStopped, <-prodDone)
		}
		if ctx.Err() == nil {
			prodStopped = []string{"producers stopped with the consumers"}
		}
	}
	stopCount()
	stopProgress()
	for _, s := range o.subs {
		for _, cc := range s.ccs {
			cc.Stop()
		}
		s.ccs = nil
	}
	return o.result(topicNames, bl, prodStopped, consStopped)
}

// pause pauses (JetStream consumer pause: no delivery, the pullers stay
// subscribed) or resumes every durable consumer of the run.
func (o *ombRun) pause(ctx context.Context, js jetstream.JetStream, on bool) error {
	for _, s := range o.subs {
		tc := o.topics[s.topic]
		for p := range tc.partitions {
			var err error
			if on {
				_, err = js.PauseConsumer(ctx, tc.streamName(p), s.name, time.Now().Add(ombUnbounded))
			} else {
				_, err = js.ResumeConsumer(ctx, tc.streamName(p), s.name)
			}
			if err != nil {
				return fmt.Errorf("pause %t consumer %s on %s: %w", on, s.name, tc.streamName(p), err)
			}
		}
	}
	return nil
}

// result fills the Result as bench.RunOMB does.
func (o *ombRun) result(topics []string, bl *bench.OMBBacklogSummary, prodStopped []string, consStopped string) (*bench.Result, error) {
	w := &o.plan.Workload
	res := &bench.Result{Workload: "omb", Setup: o.setup()}
	var records, bytes, last int64
	for _, r := range o.runs {
		records += r.measuredRecords.Load()
		bytes += r.measuredBytes.Load()
		last = max(last, r.lastAck.Load())
	}
	warmupEnd := o.runs[0].warmupEndUnix
	setThroughput(res, records, bytes, time.Duration(max(last-warmupEnd, 0)))
	lat := o.lat.Summary()
	res.Latency = &lat
	res.LatencyClamped += o.lat.Clamped()
	o.perrs.fill(res)

	sum := &bench.OMBSummary{Name: w.Name, Plan: *o.plan, Topics: topics, Backlog: bl}
	sum.ConsumeRecords, sum.ConsumeBytes = o.measuredRecords.Load(), o.measuredBytes.Load()
	if l := o.lastRecv.Load(); l > warmupEnd {
		el := time.Duration(l - warmupEnd).Seconds()
		sum.ConsumeDurationS = el
		sum.ConsumeRecordsPerS = float64(sum.ConsumeRecords) / el
		sum.ConsumeMBPerS = float64(sum.ConsumeBytes) / (1 << 20) / el
	}
	for _, s := range o.subs {
		ss := bench.OMBSubscriptionSummary{
			Topic: topics[s.topic], Group: s.name, Consumers: len(s.conns),
			Produced: o.runs[s.topic].all.records.Load(), Received: s.received.Load(),
		}
		ss.Unique, ss.Duplicates = s.seqs.Counts()
		ss.Missing = max(ss.Produced-ss.Unique, 0)
		sum.Duplicates += ss.Duplicates
		sum.Missing += ss.Missing
		sum.Subscriptions = append(sum.Subscriptions, ss)
	}
	res.OMB = sum

	es := o.e2e.Summary()
	res.E2ELatency = &es
	res.LatencyClamped += o.e2e.Clamped()
	produced, consumed := o.acked(), o.received.Load()
	res.ProducedRecords, res.ConsumedRecords = &produced, &consumed
	o.cerrs.fill(res)
	stopped := append(slices.Compact(slices.Sorted(slices.Values(prodStopped))), consStopped)
	res.StoppedEarly = strings.Join(slices.DeleteFunc(stopped, func(s string) bool { return s == "" }), "; ")
	switch {
	case res.Records == 0:
		return res, errNothingProduced
	case consumed == 0:
		return res, errNothingConsumed
	}
	return res, nil
}

func (o *ombRun) setup() string {
	w := &o.plan.Workload
	rate := "as fast as the producers go"
	if w.ProducerRate > 0 {
		rate = fmt.Sprintf("%g msg/s", w.ProducerRate)
	}
	return fmt.Sprintf("%q: %d topic(s) × %d streams, %d B messages, %s, %d producer(s)/topic (window %d), "+
		"%d subscription(s)/topic × %d consumer(s) sharing a durable pull consumer per stream (%d messages per pull), JetStream publish acks",
		w.Name, w.Topics, w.PartitionsPerTopic, w.MessageSize, rate, w.ProducersPerTopic, o.cfg.window,
		w.SubscriptionsPerTopic, w.ConsumerPerSubscription, o.cfg.pullBatch)
}

// workloadMain is "nats-bench workload FILE [flags]"; the file may come
// before, between or after the flags.
func workloadMain(args []string) int {
	var cfg config
	var over bench.OMBOverrides
	fl := flag.NewFlagSet("nats-bench workload", flag.ExitOnError)
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "usage: nats-bench workload FILE [flags]\n\nRuns an OpenMessaging Benchmark workload file against JetStream (see the package comment).")
		fl.PrintDefaults()
	}
	fl.StringVar(&cfg.server, "server", "nats://127.0.0.1:4222", "NATS server URL")
	fl.StringVar(&cfg.stream, "stream", "omb", "stream name prefix: topic streams PREFIX-RUNID-NNNN-<i>, RUNID random")
	fl.BoolVar(&cfg.keepStreams, "keep-streams", false, "leave the run's streams in place (they are deleted otherwise)")
	fl.DurationVar(&over.Duration, "duration", 0, "test duration instead of the file's testDurationMinutes (0: the file's)")
	fl.DurationVar(&over.Warmup, "warmup", 0, "warm-up instead of the file's warmupDurationMinutes (when given, even 0)")
	fl.Float64Var(&over.RateScale, "rate-scale", 1, "multiply the file's producerRate")
	fl.Float64Var(&over.BacklogScale, "backlog-scale", 1, "multiply the file's consumerBacklogSizeGB")
	fl.DurationVar(&cfg.drainTimeout, "drain-timeout", 30*time.Second, "bound on waiting for in-flight records, and on a run without progress")
	fl.DurationVar(&cfg.progress, "progress", time.Second, "progress line interval on stderr (0: off)")
	fl.BoolVar(&cfg.json, "json", false, "print a JSON summary on stdout (the table goes to stderr)")
	fl.IntVar(&cfg.window, "window", 4000, "publishes awaiting their ack per producer")
	fl.IntVar(&cfg.pullBatch, "pull-batch", 4096, "messages per pull request of a consumer")
	cfg.acks = "all"
	var files []string
	for {
		fl.Parse(args)
		if fl.NArg() == 0 {
			break
		}
		files = append(files, fl.Arg(0))
		args = fl.Args()[1:]
	}
	cfg.log = newLogger()
	fail := func(code int, err error) int {
		cfg.log.Error("nats-bench: " + err.Error())
		return code
	}
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case len(files) != 1:
		return fail(2, fmt.Errorf("%w: want one workload file, got %d", errConfig, len(files)))
	case !(over.RateScale > 0) || !(over.BacklogScale > 0):
		return fail(2, fmt.Errorf("%w: --rate-scale and --backlog-scale want > 0", errConfig))
	case cfg.drainTimeout <= 0 || cfg.window < 1 || cfg.pullBatch < 1:
		return fail(2, fmt.Errorf("%w: --drain-timeout > 0, --window and --pull-batch >= 1", errConfig))
	}
	over.WarmupSet = set["warmup"]
	w, err := bench.LoadOMBWorkload(files[0])
	if err != nil {
		return fail(2, err)
	}
	plan, err := w.Plan(over)
	if err != nil {
		return fail(2, err)
	}
	fmt.Fprintf(os.Stderr, "workload %q from %s: %s after a %s warm-up\n", w.Name, files[0], plan.Duration, plan.Warmup)
	for _, c := range plan.Changes {
		fmt.Fprintf(os.Stderr, "  scaled: %s\n", c)
	}
	ctx, stop := signalContext()
	defer stop()
	res, err := runOMB(ctx, &cfg, plan)
	config := flagValues(fl)
	config["file"], config["plan"] = files[0], plan
	if err := report(&cfg, res, config, err); err != nil {
		return fail(1, err)
	}
	return 0
}
