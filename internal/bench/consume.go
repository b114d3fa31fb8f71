package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pollSlice bounds one PollFetches call so the loops check their stop
// conditions regularly; a fetch already buffered returns at once, so it
// adds no latency.
const pollSlice = 100 * time.Millisecond

// poller wraps a consumer client: one poll, fetch errors counted.
type poller struct {
	cl   *kgo.Client
	errs *errorLog
}

func newPoller(f *Fetch, c *Common, offsets map[int32]kgo.Offset) (*poller, error) {
	cl, err := kgo.NewClient(f.consumerOpts(c.Brokers, c.Topic, offsets)...)
	if err != nil {
		return nil, fmt.Errorf("bench: consumer client: %w", err)
	}
	return &poller{cl: cl, errs: newErrorLog("fetch", c.Logger)}, nil
}

// poll waits up to pollSlice for fetched records.
func (p *poller) poll(ctx context.Context) []*kgo.Record {
	pctx, cancel := context.WithTimeout(ctx, pollSlice)
	defer cancel()
	fs := p.cl.PollFetches(pctx)
	fs.EachError(func(_ string, _ int32, err error) {
		// Our own poll deadline and shutdown are not fetch failures.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		p.errs.add(err)
	})
	return fs.Records()
}

func (f *Fetch) setup(c *Common) string {
	return fmt.Sprintf("topic %s, fetch max wait %s, max bytes %d, max partition bytes %d (0: franz-go default)",
		c.Topic, f.MaxWait, f.MaxBytes, f.MaxPartitionBytes)
}

// RunConsume reads the topic from the start of every partition until
// Records measured records or Duration. Records received during the
// warm-up are read but not counted. Without new records for DrainTimeout
// (the topic is exhausted) it stops early. It returns the result together
// with ErrNothingConsumed when no measured record arrived.
func RunConsume(ctx context.Context, cfg ConsumeConfig) (*Result, error) {
	if err := cfg.prepare(); err != nil {
		return nil, err
	}
	adm, err := newAdmin(cfg.Brokers)
	if err != nil {
		return nil, err
	}
	ids, err := topicPartitions(ctx, adm, cfg.Topic)
	adm.Close()
	if err != nil {
		return nil, err
	}
	pl, err := newPoller(&cfg.Fetch, &cfg.Common, startOffsets(ids))
	if err != nil {
		return nil, err
	}
	defer pl.cl.Close()

	clock := cfg.Clock
	start := clock.Now()
	warmupEnd := start.Add(cfg.Warmup)
	end := warmupEnd.Add(cfg.Duration) // == warmupEnd in records mode, unused there
	var all counters
	stopProgress := startProgress(cfg.ProgressOut, cfg.Progress, clock, start, warmupEnd, &all)
	var (
		records, bytes int64
		last           = warmupEnd // receive time of the last measured record
		lastProgress   = time.Now()
		stopped        string
	)
loop:
	for {
		switch {
		case ctx.Err() != nil:
			stopped = "interrupted"
			break loop
		case cfg.Duration > 0 && !clock.Now().Before(end):
			break loop
		case time.Since(lastProgress) >= cfg.DrainTimeout:
			stopped = fmt.Sprintf("no record received for %s (end of the topic?)", cfg.DrainTimeout)
			break loop
		}
		rs := pl.poll(ctx)
		if len(rs) == 0 {
			continue
		}
		lastProgress = time.Now()
		now := clock.Now()
		for _, r := range rs {
			all.add(1, int64(len(r.Value)))
			if now.Before(warmupEnd) || (cfg.Duration > 0 && !now.Before(end)) {
				continue
			}
			records++
			bytes += int64(len(r.Value))
			last = now
			if records == cfg.Records {
				break loop
			}
		}
	}
	stopProgress()

	res := &Result{Workload: "consume", Config: cfg, Setup: cfg.Fetch.setup(&cfg.Common), StoppedEarly: stopped}
	res.setThroughput(records, bytes, last.Sub(warmupEnd))
	res.addErrors(pl.errs)
	if records == 0 {
		return res, ErrNothingConsumed
	}
	return res, nil
}
