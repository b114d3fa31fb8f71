package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNoProgress ends a run in which nothing completed within the drain timeout.
var ErrNoProgress = errors.New("bench: no record completed within the drain timeout")

// producerRun drives cfg.Producers independent kgo clients from one shared
// schedule and measures each record from its intended send time to its
// acknowledgement.
type producerRun struct {
	cfg     *ProduceConfig
	clients []*kgo.Client
	payload []byte   // per-run template; see value.go
	keys    [][]byte // nil without --keys

	// Set by begin.
	tb            Timebase
	sched         *Schedule
	warmupEndUnix int64

	lat  *Histogram
	errs *errorLog
	all  counters // acknowledged records, warm-up included
	// total, when set, counts them too: the omb workload's sum over its
	// topics, one producerRun each.
	total *counters

	measuredRecords atomic.Int64
	measuredBytes   atomic.Int64
	lastAck         atomic.Int64 // timebase Unix ns of the last measured ack
	sent            atomic.Int64 // records handed to Produce
	completed       atomic.Int64 // promises called, success or not

	records sync.Pool // *kgo.Record with a Value of RecordSize bytes
}

func newProducerRun(cfg *ProduceConfig) (*producerRun, error) {
	p := &producerRun{
		cfg:     cfg,
		payload: newPayload(cfg.RecordSize),
		lat:     NewHistogram(),
		errs:    newErrorLog("produce", cfg.Logger),
	}
	for i := range cfg.Keys {
		p.keys = append(p.keys, fmt.Appendf(nil, "key-%d", i))
	}
	for range cfg.Producers {
		cl, err := kgo.NewClient(cfg.producerOpts()...)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("bench: producer client: %w", err)
		}
		p.clients = append(p.clients, cl)
	}
	return p, nil
}

func (p *producerRun) close() {
	for _, cl := range p.clients {
		cl.Close()
	}
}

// begin fixes the run's start; the warm-up and measured phases follow.
func (p *producerRun) begin(tb Timebase) {
	p.tb = tb
	p.sched = NewSchedule(p.cfg.Clock, tb.start, p.cfg.Rate, p.cfg.Warmup, p.cfg.Duration, p.cfg.Records)
	p.warmupEndUnix = tb.UnixNano(p.sched.warmupEnd)
}

// run produces until the schedule ends, then waits up to DrainTimeout for
// the records in flight. It returns why it stopped early, or "".
func (p *producerRun) run(ctx context.Context) (stoppedEarly string) {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopWatchdog := p.watchdog(runCtx, cancel)
	var wg sync.WaitGroup
	for _, cl := range p.clients {
		wg.Go(func() { p.generate(runCtx, cl) })
	}
	wg.Wait()
	stopWatchdog()

	drainCtx, drainCancel := context.WithTimeout(context.Background(), p.cfg.DrainTimeout)
	defer drainCancel()
	drained := true
	for _, cl := range p.clients {
		if cl.Flush(drainCtx) != nil {
			drained = false
		}
	}
	if !drained {
		// Fail what is still buffered so every record is accounted for.
		abortCtx, abortCancel := context.WithTimeout(context.Background(), p.cfg.DrainTimeout)
		defer abortCancel()
		for _, cl := range p.clients {
			if err := cl.AbortBufferedRecords(abortCtx); err != nil {
				p.cfg.Logger.Warn("bench: aborting buffered records", "err", err)
			}
		}
	}
	switch {
	case errors.Is(context.Cause(runCtx), ErrNoProgress):
		return fmt.Sprintf("no produce completed for %s", p.cfg.DrainTimeout)
	case ctx.Err() != nil:
		return "interrupted"
	case !drained:
		return fmt.Sprintf("records still in flight after the %s drain timeout were aborted", p.cfg.DrainTimeout)
	}
	return ""
}

// generate is one producer's loop.
func (p *producerRun) generate(ctx context.Context, cl *kgo.Client) {
	for {
		seq, intended, ok := p.sched.Next(ctx)
		if !ok {
			return
		}
		p.sent.Add(1)
		cl.Produce(ctx, p.record(seq, p.tb.UnixNano(intended)), p.promise)
	}
}

// record returns a pooled record stamped with the time and sequence. The
// pool avoids a value allocation per record: only the header changes.
func (p *producerRun) record(seq, UnixNano int64) *kgo.Record {
	r, _ := p.records.Get().(*kgo.Record)
	var value []byte
	if r == nil {
		r = new(kgo.Record)
		value = append([]byte(nil), p.payload...)
	} else {
		value = r.Value
	}
	encodeHeader(value, UnixNano, seq)
	*r = kgo.Record{Value: value} // Topic empty: kgo.DefaultProduceTopic
	if len(p.keys) > 0 {
		r.Key = p.keys[seq%int64(len(p.keys))]
	}
	return r
}

// promise is called by kgo once per record, serially per client; kgo does
// not touch the record afterwards, so it goes back to the pool.
func (p *producerRun) promise(r *kgo.Record, err error) {
	now := p.tb.UnixNano(p.cfg.Clock.Now())
	defer p.records.Put(r)
	defer p.completed.Add(1)
	if err != nil {
		p.errs.add(err)
		return
	}
	intended, _, _ := decodeHeader(r.Value) // we wrote it: RecordSize >= HeaderSize
	n := int64(len(r.Value))
	p.all.add(1, n)
	if p.total != nil {
		p.total.add(1, n)
	}
	if intended < p.warmupEndUnix {
		return
	}
	p.lat.Record(time.Duration(now - intended))
	p.measuredRecords.Add(1)
	p.measuredBytes.Add(n)
	storeMax(&p.lastAck, now)
}

// watchdog cancels the run when records are outstanding and none has
// completed for DrainTimeout, so a dead broker cannot hang the tool.
func (p *producerRun) watchdog(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	return Watchdog(ctx, cancel, &p.sent, &p.completed, p.cfg.DrainTimeout, func() {
		p.cfg.Logger.Warn("bench: no produce completed; stopping", "for", p.cfg.DrainTimeout)
	})
}

// Watchdog cancels a run with ErrNoProgress when work is outstanding (sent
// above completed) and none has completed for timeout, calling onStall
// first; so a dead server cannot hang a load tool. stop ends it.
func Watchdog(ctx context.Context, cancel context.CancelCauseFunc, sent, completed *atomic.Int64, timeout time.Duration, onStall func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(min(time.Second, timeout))
		defer tick.Stop()
		last, since := completed.Load(), time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				c := completed.Load()
				if c != last || sent.Load() == c {
					last, since = c, now
				} else if now.Sub(since) >= timeout {
					onStall()
					cancel(ErrNoProgress)
					return
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// fill puts the producer's measurements into res.
func (p *producerRun) fill(res *Result) { fillProducers(res, []*producerRun{p}) }

// fillProducers puts the measurements of runs into res: records and bytes
// summed, throughput from the shared warm-up end to the last ack of any.
// The runs began with one timebase and share their latency histogram and
// error log (the first run's are reported).
func fillProducers(res *Result, runs []*producerRun) {
	var records, bytes, last int64
	for _, p := range runs {
		records += p.measuredRecords.Load()
		bytes += p.measuredBytes.Load()
		last = max(last, p.lastAck.Load())
	}
	first := runs[0]
	elapsed := time.Duration(0)
	if last > first.warmupEndUnix {
		elapsed = time.Duration(last - first.warmupEndUnix)
	}
	res.setThroughput(records, bytes, elapsed)
	lat := first.lat.Summary()
	res.Latency = &lat
	res.LatencyClamped += first.lat.Clamped()
	res.addErrors(first.errs)
}

func (c *ProduceConfig) setup() string {
	rate := "closed loop"
	if c.Rate > 0 {
		rate = fmt.Sprintf("open loop at %g records/s", c.Rate)
	}
	return fmt.Sprintf("topic %s, %d B records, acks=%s, compression %s, linger %s, %d producer(s), idempotent %t, %s",
		c.Topic, c.RecordSize, c.Acks, c.Compression, c.Linger, c.Producers, c.Idempotent, rate)
}

// RunProduce runs a produce workload. It returns the result together with
// ErrNothingProduced when no measured record was acknowledged.
func RunProduce(ctx context.Context, cfg ProduceConfig) (*Result, error) {
	if err := cfg.prepare(); err != nil {
		return nil, err
	}
	adm, err := newAdmin(cfg.Brokers)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	if _, _, err := ensureTopic(ctx, adm, &cfg.Common); err != nil {
		return nil, err
	}
	p, err := newProducerRun(&cfg)
	if err != nil {
		return nil, err
	}
	defer p.close()

	p.begin(NewTimebase(cfg.Clock.Now()))
	stopProgress := startProgress(cfg.ProgressOut, cfg.Progress, cfg.Clock, p.tb.start, p.sched.warmupEnd,
		&p.all, progressLine{"ack", p.lat})
	stopped := p.run(ctx)
	stopProgress()

	res := &Result{Workload: "produce", Config: cfg, Setup: cfg.setup(), StoppedEarly: stopped}
	p.fill(res)
	if res.Records == 0 {
		return res, ErrNothingProduced
	}
	return res, nil
}

// storeMin lowers a to v if v is smaller.
func storeMin(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v >= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
