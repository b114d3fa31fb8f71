package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gregor-dev/gregor/internal/bench"
)

var errNothingConsumed = errors.New("no record was consumed")

// startConsumers creates a pull consumer without acks on every stream of
// the run, delivering from the start (deliverNew false) or only messages
// stored after now, and starts pulling into handler.
func startConsumers(ctx context.Context, nc *nats.Conn, cfg *config, deliverNew bool,
	handler jetstream.MessageHandler, errs *errorLog) (stop func(), err error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	policy := jetstream.DeliverAllPolicy
	if deliverNew {
		policy = jetstream.DeliverNewPolicy
	}
	var ccs []jetstream.ConsumeContext
	stop = func() {
		for _, cc := range ccs {
			cc.Stop()
		}
	}
	for i := range cfg.partitions {
		s, err := js.Stream(ctx, cfg.streamName(i))
		if err != nil {
			stop()
			return nil, fmt.Errorf("stream %s: %w", cfg.streamName(i), err)
		}
		cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			AckPolicy:         jetstream.AckNonePolicy,
			DeliverPolicy:     policy,
			InactiveThreshold: time.Minute,
		})
		if err != nil {
			stop()
			return nil, fmt.Errorf("consumer on %s: %w", cfg.streamName(i), err)
		}
		cc, err := cons.Consume(handler, jetstream.PullMaxMessages(cfg.pullBatch),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { errs.add(err.Error()) }))
		if err != nil {
			stop()
			return nil, fmt.Errorf("consume %s: %w", cfg.streamName(i), err)
		}
		ccs = append(ccs, cc)
	}
	return stop, nil
}

// runConsume reads every stream from its first message until --records
// measured records or --duration, as gregor bench consume reads a topic.
func runConsume(ctx context.Context, cfg *config) (*bench.Result, error) {
	nc, err := connect(cfg, "consumer")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	errs := newErrorLog("consume", cfg.log)

	start := time.Now()
	tb := bench.NewTimebase(start)
	warmupEnd := start.Add(cfg.warmup)
	end := warmupEnd.Add(cfg.duration)
	var (
		all       counters
		measured  atomic.Int64
		bytes     atomic.Int64
		lastRecv  atomic.Int64 // timebase Unix ns of the last measured record
		done      = make(chan struct{})
		closeDone sync.Once
	)
	lastRecv.Store(tb.UnixNano(warmupEnd))
	handler := func(m jetstream.Msg) {
		now := time.Now()
		n := int64(len(m.Data()))
		all.add(1, n)
		if now.Before(warmupEnd) || (cfg.duration > 0 && !now.Before(end)) {
			return
		}
		c := measured.Add(1)
		if cfg.records > 0 && c > cfg.records {
			return
		}
		bytes.Add(n)
		storeMax(&lastRecv, tb.UnixNano(now))
		if c == cfg.records {
			closeDone.Do(func() { close(done) })
		}
	}
	stopConsumers, err := startConsumers(ctx, nc, cfg, false, handler, errs)
	if err != nil {
		return nil, err
	}
	stopProgress := startProgress(cfg.progress, start, "consumed", &all, nil)
	stopped := waitConsumed(ctx, cfg, done, end, &all)
	stopConsumers()
	stopProgress()

	res := &bench.Result{Workload: "consume", StoppedEarly: stopped,
		Setup: fmt.Sprintf("streams %s-0..%d, pull consumers without acks, %d messages per pull", cfg.stream, cfg.partitions-1, cfg.pullBatch)}
	records := measured.Load()
	if cfg.records > 0 {
		records = min(records, cfg.records)
	}
	setThroughput(res, records, bytes.Load(), time.Duration(lastRecv.Load()-tb.UnixNano(warmupEnd)))
	errs.fill(res)
	if res.Records == 0 {
		return res, errNothingConsumed
	}
	return res, nil
}

// waitConsumed waits for done, the end of the run's duration, or no record
// for the drain timeout; it returns why the run stopped early, or "".
func waitConsumed(ctx context.Context, cfg *config, done <-chan struct{}, end time.Time, all *counters) string {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last, since := all.records.Load(), time.Now()
	for {
		select {
		case <-done:
			return ""
		case <-ctx.Done():
			return "interrupted"
		case now := <-tick.C:
			if cfg.duration > 0 && !now.Before(end) {
				return ""
			}
			if c := all.records.Load(); c != last {
				last, since = c, now
			} else if now.Sub(since) >= cfg.drainTimeout {
				return fmt.Sprintf("no record received for %s (end of the streams?)", cfg.drainTimeout)
			}
		}
	}
}
