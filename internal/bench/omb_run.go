package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNotReady ends an omb run whose consumer groups did not get every
// partition assigned in time.
var ErrNotReady = errors.New("bench: consumer groups not assigned every partition in time")

const (
	defaultReadyTimeout = time.Minute // OMB waits as long for its consumers
	// ombDrainFloor is OMB's: a backlog of fewer messages counts as
	// drained whatever the drain ratio, as producers keep producing.
	ombDrainFloor = 1000
	// ombUnbounded is the producers' duration while a backlog is built and
	// drained; Schedule.Stop ends them once that is done.
	ombUnbounded = 100 * 365 * 24 * time.Hour
	ombTick      = 10 * time.Millisecond
)

// OMBConfig runs an OMB workload against any Kafka-protocol broker.
//
// The embedded ProduceConfig is the driver's producer (brokers,
// replication factor, acks, compression, linger, batching, drain timeout,
// progress, logger, clock); its topic, partitions, record size, producers,
// rate, keys, records, duration and warm-up are set from Plan.
type OMBConfig struct {
	ProduceConfig
	Fetch
	Plan OMBPlan `json:"plan"`
	// TopicPrefix names the run's topics PREFIX-RUNID-NNNN and its groups
	// TOPIC-sub-NNN, RUNID random, so every run starts on empty topics as
	// OMB's do; "" means "omb".
	TopicPrefix string `json:"topic_prefix"`
	// KeepTopics leaves the topics in place; otherwise they are deleted
	// when the run ends.
	KeepTopics bool `json:"keep_topics"`
	// ReadyTimeout bounds the wait for the consumer groups to be assigned
	// every partition before producing; 0 means 1 minute.
	ReadyTimeout time.Duration `json:"ready_timeout_ns"`
}

// OMBSummary is what an omb run reports beyond the produce side (which
// is Result's records, throughput and latency).
type OMBSummary struct {
	Name string  `json:"name"`
	Plan OMBPlan `json:"plan"`
	// Consume*: records received after the warm-up over all
	// subscriptions, up to the last one received.
	ConsumeRecords     int64   `json:"consume_records"`
	ConsumeBytes       int64   `json:"consume_bytes"`
	ConsumeDurationS   float64 `json:"consume_duration_s"`
	ConsumeRecordsPerS float64 `json:"consume_records_per_s"`
	ConsumeMBPerS      float64 `json:"consume_mb_per_s"`
	// Duplicates and Missing add up the subscriptions'.
	Duplicates    int64                    `json:"duplicates"`
	Missing       int64                    `json:"missing"`
	Subscriptions []OMBSubscriptionSummary `json:"subscriptions"`
	Backlog       *OMBBacklogSummary       `json:"backlog,omitempty"`
	Topics        []string                 `json:"topics"`
}

// OMBSubscriptionSummary is one consumer group: which sequence numbers of
// its topic it received, against what that topic's producers had
// acknowledged.
type OMBSubscriptionSummary struct {
	Topic      string `json:"topic"`
	Group      string `json:"group"`
	Consumers  int    `json:"consumers"`
	Produced   int64  `json:"produced"` // acknowledged on the topic, warm-up included
	Received   int64  `json:"received"` // duplicates included
	Unique     int64  `json:"unique"`
	Duplicates int64  `json:"duplicates"`
	Missing    int64  `json:"missing"` // acknowledged and never received
}

// OMBBacklogSummary is the backlog phase: consumers paused at the end of
// the warm-up until TargetRecords messages waited, then resumed until
// the backlog fell to DrainedLevel.
type OMBBacklogSummary struct {
	TargetRecords   int64   `json:"target_records"`
	RecordsAtResume int64   `json:"records_at_resume"`
	BuildS          float64 `json:"build_s"`
	DrainedLevel    int64   `json:"drained_level"`
	Drained         bool    `json:"drained"`
	DrainS          float64 `json:"drain_s"`
	// DrainRecordsPerS is the consume rate while draining.
	DrainRecordsPerS float64 `json:"drain_records_per_s"`
}

// ombSubscription is one consumer group of one topic.
type ombSubscription struct {
	topic    int
	group    string
	members  []*ombMember
	received atomic.Int64

	seqs SeqSet
}

// ombMember is one group member: a kgo client in a consumer group.
type ombMember struct {
	poller
	topic string
	owned atomic.Int64 // partitions assigned now
}

// ombConsumers are all members of all groups and what they measure.
type ombConsumers struct {
	subs    []*ombSubscription
	members []*ombMember
	e2e     *Histogram
	errs    *errorLog

	// Set before the members start polling.
	tb            Timebase
	clock         Clock
	warmupEnd     time.Time
	warmupEndUnix int64

	received        atomic.Int64 // every subscription, warm-up included
	measuredRecords atomic.Int64
	measuredBytes   atomic.Int64
	lastRecv        atomic.Int64 // timebase Unix ns of the last measured receive

	stop context.CancelFunc
	wg   sync.WaitGroup
}

func (c *ombConsumers) close() {
	if c.stop != nil {
		c.stop()
		c.wg.Wait()
	}
	for _, m := range c.members {
		m.cl.Close()
	}
}

// poll is one member's loop.
func (c *ombConsumers) poll(ctx context.Context, m *ombMember, sub *ombSubscription) {
	var seqs []int64
	for ctx.Err() == nil {
		rs := m.poller.poll(ctx)
		if len(rs) == 0 {
			continue
		}
		now := c.clock.Now()
		nowUnix := c.tb.UnixNano(now)
		seqs = seqs[:0]
		var bytes int64
		for _, r := range rs {
			bytes += int64(len(r.Value))
			sent, seq, err := decodeHeader(r.Value)
			if err != nil {
				m.errs.add(err)
				continue
			}
			seqs = append(seqs, seq)
			if sent >= c.warmupEndUnix {
				c.e2e.Record(time.Duration(nowUnix - sent))
			}
		}
		sub.seqs.Mark(seqs...)
		n := int64(len(rs))
		sub.received.Add(n)
		c.received.Add(n)
		if !now.Before(c.warmupEnd) {
			c.measuredRecords.Add(n)
			c.measuredBytes.Add(bytes)
			storeMax(&c.lastRecv, nowUnix)
		}
	}
}

// pause stops or restarts fetching on every member; the members stay in
// their groups (franz-go heartbeats on), as OMB's paused consumers do.
func (c *ombConsumers) pause(on bool) {
	for _, m := range c.members {
		if on {
			m.cl.PauseFetchTopics(m.topic)
		} else {
			m.cl.ResumeFetchTopics(m.topic)
		}
	}
}

// ready reports whether in every group each partition is assigned and
// as many members as can have one have one.
func (c *ombConsumers) ready(partitions int64) bool {
	for _, s := range c.subs {
		var owned, owning int64
		for _, m := range s.members {
			n := m.owned.Load()
			owned += n
			if n > 0 {
				owning++
			}
		}
		if owned != partitions || owning != min(int64(len(s.members)), partitions) {
			return false
		}
	}
	return true
}

func (c *OMBConfig) prepare() error {
	c.ProduceConfig.withDefaults() // the per-topic fields are overwritten by topicConfig
	c.Fetch.withDefaults()
	if c.TopicPrefix == "" {
		c.TopicPrefix = "omb"
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = defaultReadyTimeout
	}
	if c.ReadyTimeout < 0 {
		return fmt.Errorf("%w: negative ready timeout", ErrConfig)
	}
	if err := c.Plan.Workload.Validate(); err != nil {
		return err
	}
	if c.Plan.Duration <= 0 || c.Plan.Warmup < 0 {
		return fmt.Errorf("%w: plan duration %s, warm-up %s: want > 0 and >= 0", ErrConfig, c.Plan.Duration, c.Plan.Warmup)
	}
	pc := c.topicConfig("t")
	return errors.Join(pc.prepare(), c.Fetch.validate())
}

// topicConfig is the producer configuration of one topic: its share of
// the rate, with the workload's producers, size and keys.
func (c *OMBConfig) topicConfig(topic string) ProduceConfig {
	w := &c.Plan.Workload
	pc := c.ProduceConfig
	pc.Topic = topic
	pc.Partitions = int32(w.PartitionsPerTopic)
	pc.RecordSize = w.MessageSize
	pc.Producers = w.ProducersPerTopic
	pc.Rate = w.ProducerRate / float64(w.Topics)
	pc.Keys = w.Keys()
	pc.Records, pc.Warmup, pc.Duration = 0, c.Plan.Warmup, c.Plan.Duration
	if w.ConsumerBacklogSizeGB > 0 {
		pc.Duration = ombUnbounded
	}
	return pc
}

func (c *OMBConfig) setup() string {
	w := &c.Plan.Workload
	rate := "as fast as the producers go"
	if w.ProducerRate > 0 {
		rate = fmt.Sprintf("%g msg/s", w.ProducerRate)
	}
	s := fmt.Sprintf("%q: %d topic(s) × %d partitions, %d B messages, %s, %d producer(s)/topic, %d subscription(s)/topic × %d consumer(s), keys %s; acks=%s, compression %s, linger %s",
		w.Name, w.Topics, w.PartitionsPerTopic, w.MessageSize, rate, w.ProducersPerTopic,
		w.SubscriptionsPerTopic, w.ConsumerPerSubscription, w.KeyDistributor, c.Acks, c.Compression, c.Linger)
	if w.ConsumerBacklogSizeGB > 0 {
		s += fmt.Sprintf(", backlog %g GiB", w.ConsumerBacklogSizeGB)
	}
	return s
}

// RunOMB runs an OMB workload as OMB's WorkloadGenerator does: it creates
// the topics, joins every consumer group and waits until each has every
// partition, then produces at producerRate for the warm-up and the test
// duration. With a backlog, the consumers pause when the warm-up ends
// until the backlog is built, then resume; the test duration starts once
// it is drained. When the producers stop, the consumers read on until
// each subscription has every acknowledged message (or DrainTimeout
// passes without progress), so the summary can say whether each message
// was received exactly once per subscription.
//
// Publish latency is from the intended send time to the ack (OMB's
// "publish delay" plus its "publish latency"); end-to-end latency is from
// the intended send time to the receive. It returns the result together
// with ErrNothingProduced or ErrNothingConsumed when either side measured
// nothing.
func RunOMB(ctx context.Context, cfg OMBConfig) (*Result, error) {
	if err := cfg.prepare(); err != nil {
		return nil, err
	}
	w := &cfg.Plan.Workload
	clock := cfg.Clock
	logger := cfg.Logger
	var id [3]byte
	rand.Read(id[:])
	runID := hex.EncodeToString(id[:])

	adm, err := newAdmin(cfg.Brokers)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	sum := &OMBSummary{Name: w.Name, Plan: cfg.Plan}
	var topicCfgs []ProduceConfig
	for i := range w.Topics {
		pc := cfg.topicConfig(fmt.Sprintf("%s-%s-%04d", cfg.TopicPrefix, runID, i))
		pc.prepare() // checked by cfg.prepare
		if _, _, err := ensureTopic(ctx, adm, &pc.Common); err != nil {
			return nil, err
		}
		sum.Topics = append(sum.Topics, pc.Topic)
		topicCfgs = append(topicCfgs, pc)
	}
	if !cfg.KeepTopics {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
			defer cancel()
			if _, err := adm.DeleteTopics(dctx, sum.Topics...); err != nil {
				logger.Warn("bench: deleting the run's topics", "err", err)
			}
		}()
	}

	cons, err := startOMBConsumers(&cfg, sum.Topics)
	if err != nil {
		return nil, err
	}
	defer cons.close()
	if err := waitReady(ctx, clock, cfg.ReadyTimeout, cons, int64(w.PartitionsPerTopic)); err != nil {
		return nil, err
	}

	lat, prodErrs := NewHistogram(), newErrorLog("produce", logger)
	var total counters
	var runs []*producerRun
	defer func() {
		for _, p := range runs {
			p.close()
		}
	}()
	for i := range topicCfgs {
		p, err := newProducerRun(&topicCfgs[i])
		if err != nil {
			return nil, err
		}
		p.lat, p.errs, p.total = lat, prodErrs, &total
		runs = append(runs, p)
	}
	tb := NewTimebase(clock.Now())
	for _, p := range runs {
		p.begin(tb)
	}
	cons.tb, cons.warmupEnd, cons.warmupEndUnix = tb, runs[0].sched.warmupEnd, runs[0].warmupEndUnix
	cons.start()
	stopProgress := startProgress(cfg.ProgressOut, cfg.Progress, clock, tb.start, cons.warmupEnd,
		&total, progressLine{"ack", lat}, progressLine{"e2e", cons.e2e})

	prodCtx, prodCancel := context.WithCancel(ctx)
	defer prodCancel()
	prodDone := make(chan string, len(runs))
	for _, p := range runs {
		go func() { prodDone <- p.run(prodCtx) }()
	}
	prodStopped, consStopped := cons.monitor(ctx, &cfg, runs, &total, prodDone, sum)
	if len(prodStopped) < len(runs) {
		prodCancel() // the consumers gave up: do not keep producing
		for len(prodStopped) < len(runs) {
			prodStopped = append(prodStopped, <-prodDone)
		}
		if ctx.Err() == nil {
			prodStopped = []string{"producers stopped with the consumers"}
		}
	}
	stopProgress()
	cons.stop()
	cons.wg.Wait()
	cons.stop = nil // close need not stop them again

	res := &Result{Workload: "omb", Config: cfg, Setup: cfg.setup(), OMB: sum}
	fillProducers(res, runs)
	cons.fill(sum, runs)
	stopped := append(slices.Compact(slices.Sorted(slices.Values(prodStopped))), consStopped...)
	return res, res.endToEnd(cons.e2e, total.records.Load(), cons.received.Load(), cons.errs, stopped...)
}

// startOMBConsumers creates every member of every group; franz-go joins
// the groups in the background, and fetches nothing until polled.
func startOMBConsumers(cfg *OMBConfig, topics []string) (*ombConsumers, error) {
	w := &cfg.Plan.Workload
	c := &ombConsumers{e2e: NewHistogram(), errs: newErrorLog("fetch", cfg.Logger), clock: cfg.Clock}
	for t, topic := range topics {
		for s := range w.SubscriptionsPerTopic {
			sub := &ombSubscription{topic: t, group: fmt.Sprintf("%s-sub-%03d", topic, s)}
			for range w.ConsumerPerSubscription {
				m := &ombMember{topic: topic}
				onChange := func(sign int64) func(context.Context, *kgo.Client, map[string][]int32) {
					return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
						m.owned.Add(sign * int64(len(ps[topic])))
					}
				}
				opts := append(cfg.Fetch.fetchOpts(cfg.Brokers),
					kgo.ConsumerGroup(sub.group),
					kgo.ConsumeTopics(topic),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
					kgo.OnPartitionsAssigned(onChange(1)),
					kgo.OnPartitionsRevoked(onChange(-1)),
					kgo.OnPartitionsLost(onChange(-1)),
				)
				cl, err := kgo.NewClient(opts...)
				if err != nil {
					c.close()
					return nil, fmt.Errorf("bench: consumer client: %w", err)
				}
				m.poller = poller{cl: cl, errs: c.errs}
				sub.members = append(sub.members, m)
				c.members = append(c.members, m)
			}
			c.subs = append(c.subs, sub)
		}
	}
	return c, nil
}

// start begins every member's poll loop; tb and the warm-up end are set.
func (c *ombConsumers) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	for _, s := range c.subs {
		for _, m := range s.members {
			c.wg.Go(func() { c.poll(ctx, m, s) })
		}
	}
}

// waitReady waits until every group has every partition assigned, as OMB
// waits for its consumers before producing, so the first records do not
// wait for a group join.
func waitReady(ctx context.Context, clock Clock, timeout time.Duration, c *ombConsumers, partitions int64) error {
	deadline := clock.Now().Add(timeout)
	for !c.ready(partitions) {
		if !clock.Now().Before(deadline) {
			return fmt.Errorf("%w (%s)", ErrNotReady, timeout)
		}
		if err := clock.Sleep(ctx, ombTick); err != nil {
			return err
		}
	}
	return nil
}

// OMBPhase is where a run is in OMB's sequence.
type OMBPhase int

const (
	OMBPhaseLoad   OMBPhase = iota // producing and consuming (with a backlog: the warm-up)
	OMBPhaseBuild                  // consumers paused until the backlog is built
	OMBPhaseDrain                  // consumers resumed until the backlog is drained
	OMBPhaseSteady                 // backlog drained: the test duration runs
)

// monitor drives the backlog phases and ends the run: when the producers
// are done and every subscription has all they acknowledged, or when
// nothing is received for DrainTimeout while records are owed. It returns
// the producers' stop reasons received so far and its own.
func (c *ombConsumers) monitor(ctx context.Context, cfg *OMBConfig, runs []*producerRun, total *counters,
	prodDone <-chan string, sum *OMBSummary) (prodStopped, consStopped []string) {
	w := &cfg.Plan.Workload
	subs := int64(w.SubscriptionsPerTopic)
	target := w.BacklogRecords()
	var bl *OMBBacklogSummary
	if target > 0 {
		bl = &OMBBacklogSummary{TargetRecords: target,
			DrainedLevel: max(ombDrainFloor, int64((1-w.BacklogDrainRatio)*float64(target)))}
		sum.Backlog = bl
	}
	phase := OMBPhaseLoad
	var phaseStart time.Time
	var resumeReceived int64
	lastReceived, lastProgress := c.received.Load(), c.clock.Now()
	var maxBacklog int64
	lastGrowth := lastProgress
	for {
		select {
		case s := <-prodDone:
			prodStopped = append(prodStopped, s)
			continue
		default:
		}
		producing := len(prodStopped) < len(runs)
		if ctx.Err() != nil {
			return prodStopped, append(consStopped, "interrupted")
		}
		now := c.clock.Now()
		received := c.received.Load()
		backlog := subs*total.records.Load() - received
		switch {
		case phase == OMBPhaseLoad && bl != nil && !now.Before(c.warmupEnd):
			cfg.Logger.Info("bench: consumers paused to build the backlog", "records", target)
			c.pause(true)
			phase, phaseStart = OMBPhaseBuild, now
		case phase == OMBPhaseBuild && backlog >= target:
			c.pause(false)
			bl.RecordsAtResume, bl.BuildS = backlog, now.Sub(phaseStart).Seconds()
			cfg.Logger.Info("bench: backlog built; consumers resumed", "records", backlog, "build_s", bl.BuildS)
			phase, phaseStart, resumeReceived = OMBPhaseDrain, now, received
		case phase == OMBPhaseDrain && backlog <= bl.DrainedLevel:
			bl.Drained, bl.DrainS = true, now.Sub(phaseStart).Seconds()
			if bl.DrainS > 0 {
				bl.DrainRecordsPerS = float64(received-resumeReceived) / bl.DrainS
			}
			cfg.Logger.Info("bench: backlog drained", "drain_s", bl.DrainS, "then", cfg.Plan.Duration)
			for _, p := range runs {
				p.sched.Stop(now.Add(cfg.Plan.Duration))
			}
			phase = OMBPhaseSteady
		}
		if !producing && phase <= OMBPhaseBuild && bl != nil {
			consStopped = append(consStopped, "the producers stopped before the backlog was built")
			c.pause(false)
			phase = OMBPhaseSteady
		}
		owed := !producing && !c.complete(runs) || producing && backlog > 0 && phase != OMBPhaseBuild
		if received != lastReceived || !owed {
			lastReceived, lastProgress = received, now
		}
		if phase != OMBPhaseBuild || backlog > maxBacklog {
			maxBacklog, lastGrowth = max(backlog, maxBacklog), now
		}
		switch {
		case !producing && !owed:
			return prodStopped, consStopped
		case owed && now.Sub(lastProgress) >= cfg.DrainTimeout:
			return prodStopped, append(consStopped, fmt.Sprintf("no record received for %s while %d were owed",
				cfg.DrainTimeout, max(backlog, 0)))
		case now.Sub(lastGrowth) >= cfg.DrainTimeout:
			return prodStopped, append(consStopped, fmt.Sprintf("the backlog did not grow for %s while being built (%d of %d records)",
				cfg.DrainTimeout, backlog, target))
		}
		if c.clock.Sleep(ctx, ombTick) != nil {
			return prodStopped, append(consStopped, "interrupted")
		}
	}
}

// complete reports whether every subscription has every record its
// topic's producers acknowledged.
func (c *ombConsumers) complete(runs []*producerRun) bool {
	for _, s := range c.subs {
		if u, _ := s.seqs.Counts(); u < runs[s.topic].all.records.Load() {
			return false
		}
	}
	return true
}

// fill puts the consumers' measurements into sum; the members are stopped.
func (c *ombConsumers) fill(sum *OMBSummary, runs []*producerRun) {
	sum.ConsumeRecords, sum.ConsumeBytes = c.measuredRecords.Load(), c.measuredBytes.Load()
	if last := c.lastRecv.Load(); last > c.warmupEndUnix {
		elapsed := time.Duration(last - c.warmupEndUnix)
		sum.ConsumeDurationS = elapsed.Seconds()
		sum.ConsumeRecordsPerS = float64(sum.ConsumeRecords) / elapsed.Seconds()
		sum.ConsumeMBPerS = float64(sum.ConsumeBytes) / mib / elapsed.Seconds()
	}
	for _, s := range c.subs {
		ss := OMBSubscriptionSummary{
			Topic: sum.Topics[s.topic], Group: s.group, Consumers: len(s.members),
			Produced: runs[s.topic].all.records.Load(), Received: s.received.Load(),
		}
		ss.Unique, ss.Duplicates = s.seqs.Counts()
		ss.Missing = max(ss.Produced-ss.Unique, 0)
		sum.Duplicates += ss.Duplicates
		sum.Missing += ss.Missing
		sum.Subscriptions = append(sum.Subscriptions, ss)
	}
}
