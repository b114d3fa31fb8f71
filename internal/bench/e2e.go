package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RunE2E runs a producer (as RunProduce) and a consumer of the same topic
// in one process. The consumer starts at the partitions' end offsets taken
// before producing, so it sees exactly this run's records; end-to-end
// latency is the receive time minus the time in the record, which is the
// intended send time under a rate. It returns the result together with
// ErrNothingProduced or ErrNothingConsumed when either side saw no
// measured record.
func RunE2E(ctx context.Context, cfg E2EConfig) (*Result, error) {
	if err := cfg.prepare(); err != nil {
		return nil, err
	}
	adm, err := newAdmin(cfg.Brokers)
	if err != nil {
		return nil, err
	}
	ids, created, err := ensureTopic(ctx, adm, &cfg.Common)
	var offsets map[int32]kgo.Offset
	switch {
	case err != nil:
	case created: // empty: start at 0 (end offsets could come from stale metadata)
		offsets = sameOffset(ids, kgo.NewOffset().At(0))
	default:
		offsets, err = endOffsets(ctx, adm, cfg.Topic, ids)
	}
	adm.Close()
	if err != nil {
		return nil, err
	}
	pl, err := newPoller(&cfg.Fetch, &cfg.Common, offsets)
	if err != nil {
		return nil, err
	}
	defer pl.cl.Close()
	p, err := newProducerRun(&cfg.ProduceConfig)
	if err != nil {
		return nil, err
	}
	defer p.close()

	clock := cfg.Clock
	p.begin(NewTimebase(clock.Now()))
	e2e := NewHistogram()
	stopProgress := startProgress(cfg.ProgressOut, cfg.Progress, clock, p.tb.start, p.sched.warmupEnd,
		&p.all, progressLine{"ack", p.lat}, progressLine{"e2e", e2e})
	prodCtx, prodCancel := context.WithCancel(ctx)
	defer prodCancel()
	prodDone := make(chan string, 1)
	go func() { prodDone <- p.run(prodCtx) }()

	var (
		consumed     int64
		produced     int64 = -1 // known once the producer is done
		prodStopped  string
		consStopped  string
		lastProgress = time.Now()
	)
	for produced < 0 || consumed < produced {
		select {
		case prodStopped = <-prodDone:
			produced = p.all.records.Load()
			prodDone = nil
			continue
		default:
		}
		if ctx.Err() != nil {
			consStopped = "interrupted"
			break
		}
		owed := p.all.records.Load() > consumed
		if owed && time.Since(lastProgress) >= cfg.DrainTimeout {
			consStopped = fmt.Sprintf("consumer received no record for %s while %d acknowledged records were missing",
				cfg.DrainTimeout, p.all.records.Load()-consumed)
			break
		}
		rs := pl.poll(ctx)
		if len(rs) > 0 || !owed {
			lastProgress = time.Now()
		}
		if len(rs) == 0 {
			continue
		}
		now := p.tb.UnixNano(clock.Now())
		for _, r := range rs {
			consumed++
			sent, _, err := decodeHeader(r.Value)
			if err != nil {
				pl.errs.add(err)
				continue
			}
			if sent >= p.warmupEndUnix {
				e2e.Record(time.Duration(now - sent))
			}
		}
	}
	if prodDone != nil {
		prodCancel() // the consumer gave up: do not keep producing
		prodStopped = <-prodDone
		produced = p.all.records.Load()
		if ctx.Err() == nil {
			prodStopped = "producer stopped with the consumer"
		}
	}
	stopProgress()

	res := &Result{Workload: "e2e", Config: cfg, Setup: cfg.ProduceConfig.setup() + "; " + cfg.Fetch.setup(&cfg.Common)}
	p.fill(res)
	return res, res.endToEnd(e2e, produced, consumed, pl.errs, prodStopped, consStopped)
}

// endToEnd completes the result of a run with producers and consumers,
// whose produce side is filled: end-to-end latency, the totals (warm-up
// included), the consumers' errors and why it stopped early (empty
// reasons left out). It returns ErrNothingProduced or ErrNothingConsumed
// when either side measured nothing.
func (r *Result) endToEnd(e2e *Histogram, produced, consumed int64, fetchErrs *errorLog, stopped ...string) error {
	es := e2e.Summary()
	r.E2ELatency = &es
	r.LatencyClamped += e2e.Clamped()
	r.ProducedRecords, r.ConsumedRecords = &produced, &consumed
	r.addErrors(fetchErrs)
	r.StoppedEarly = strings.Join(slices.DeleteFunc(stopped, func(s string) bool { return s == "" }), "; ")
	switch {
	case r.Records == 0:
		return ErrNothingProduced
	case consumed == 0:
		return ErrNothingConsumed
	}
	return nil
}
