package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gregor-dev/gregor/internal/bench"
)

// runE2E runs a producer (as runProduce) and consumers of the same streams
// in one process, as gregor bench e2e. The consumers deliver only messages
// stored after they were created, so they see exactly this run's records;
// end-to-end latency is the receive time minus the time in the record (the
// intended send time under --rate).
func runE2E(ctx context.Context, cfg *config) (*bench.Result, error) {
	admin, err := connect(cfg, "admin")
	if err != nil {
		return nil, err
	}
	err = ensureStreams(ctx, admin, cfg)
	admin.Close()
	if err != nil {
		return nil, err
	}
	nc, err := connect(cfg, "consumer")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	r, err := newProduceRun(cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()

	cerrs := newErrorLog("consume", cfg.log)
	e2e := bench.NewHistogram()
	var consumed atomic.Int64
	var warmupEndUnix atomic.Int64      // set before the first publish
	tb := bench.NewTimebase(time.Now()) // shared with the producer from begin on
	handler := func(m jetstream.Msg) {
		now := tb.UnixNano(time.Now())
		consumed.Add(1)
		sent, ok := decodeSentTime(m.Data())
		if !ok {
			cerrs.add(fmt.Sprintf("message of %d bytes: shorter than the record header", len(m.Data())))
			return
		}
		if sent >= warmupEndUnix.Load() {
			e2e.Record(time.Duration(now - sent))
		}
	}
	warmupEndUnix.Store(1<<63 - 1) // nothing is measured before begin
	stopConsumers, err := startConsumers(ctx, nc, cfg, true, handler, cerrs)
	if err != nil {
		return nil, err
	}
	defer stopConsumers()

	r.begin(tb, time.Now())
	warmupEndUnix.Store(r.warmupEndUnix)
	stopProgress := startProgress(cfg.progress, r.sched.WarmupEnd().Add(-cfg.warmup), "acked", &r.all, e2e)
	prodDone := make(chan string, 1)
	prodCtx, prodCancel := context.WithCancel(ctx)
	defer prodCancel()
	go func() { prodDone <- r.run(prodCtx) }()

	var (
		produced     int64 = -1 // known once the producer is done
		prodStopped  string
		consStopped  string
		lastConsumed int64
		lastProgress = time.Now()
	)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for produced < 0 || consumed.Load() < produced {
		select {
		case prodStopped = <-prodDone:
			produced = r.all.records.Load()
			prodDone = nil
			continue
		case <-tick.C:
		}
		if ctx.Err() != nil {
			consStopped = "interrupted"
			break
		}
		c := consumed.Load()
		owed := r.all.records.Load() > c
		if c != lastConsumed || !owed {
			lastConsumed, lastProgress = c, time.Now()
		} else if time.Since(lastProgress) >= cfg.drainTimeout {
			consStopped = fmt.Sprintf("consumer received no record for %s while %d acknowledged records were missing",
				cfg.drainTimeout, r.all.records.Load()-c)
			break
		}
	}
	if prodDone != nil {
		prodCancel() // the consumer gave up: do not keep producing
		prodStopped = <-prodDone
		produced = r.all.records.Load()
		if ctx.Err() == nil {
			prodStopped = "producer stopped with the consumer"
		}
	}
	stopProgress()

	res := &bench.Result{Workload: "e2e",
		Setup: cfg.produceSetup() + fmt.Sprintf("; pull consumers without acks, %d messages per pull", cfg.pullBatch)}
	r.fill(res)
	es := e2e.Summary()
	res.E2ELatency = &es
	res.LatencyClamped += e2e.Clamped()
	c := consumed.Load()
	res.ProducedRecords, res.ConsumedRecords = &produced, &c
	cerrs.fill(res)
	res.StoppedEarly = strings.Join(slices.DeleteFunc([]string{prodStopped, consStopped}, func(s string) bool { return s == "" }), "; ")
	switch {
	case res.Records == 0:
		return res, errNothingProduced
	case c == 0:
		return res, errNothingConsumed
	}
	return res, nil
}
