package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/storage"
)

// The scrubber checks data at rest. Every log.scrub.interval.ms a pass
// walks the sealed segments of every local partition and checks each
// batch's framing and CRC (partition.Scrub), reading at most
// log.scrub.bytes.per.second over all partitions; a value of 0 or -1
// disables it. The first pass starts a short while after the broker (the
// smaller of the interval and scrubFirstDelay), so that a broker that
// restarts more often than the interval still gets checked. A damaged
// batch is logged at ERROR, counted (Options.OnDamage), refused to readers
// and repaired from another replica where one has it (see
// internal/partition/scrub.go). Both keys are read at each pass; one pass
// runs at a time.
type scrubber struct {
	b      *Broker
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	pass   sync.Mutex // one pass at a time (the loop and ScrubNow)
}

// scrubFirstDelay bounds the wait for the first pass after start.
const scrubFirstDelay = 10 * time.Minute

// scrubDisabledRecheck is how often a disabled scrubber looks whether it
// was enabled (the keys are dynamic).
const scrubDisabledRecheck = time.Minute

func newScrubber(b *Broker) *scrubber {
	s := &scrubber{b: b}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

func (s *scrubber) start() {
	s.wg.Add(1)
	go s.run()
}

func (s *scrubber) stop() {
	s.cancel()
	s.wg.Wait()
}

func (s *scrubber) interval() time.Duration {
	return time.Duration(s.b.cfg.Int64("log.scrub.interval.ms")) * time.Millisecond
}

func (s *scrubber) run() {
	defer s.wg.Done()
	wait := min(s.interval(), scrubFirstDelay)
	for {
		if wait <= 0 {
			wait = scrubDisabledRecheck
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if wait = s.interval(); wait <= 0 {
			continue
		}
		start := time.Now()
		s.runPass(s.ctx)
		wait = max(wait-time.Since(start), 0)
	}
}

// runPass scrubs every local partition once and returns the number of
// damaged ranges found.
func (s *scrubber) runPass(ctx context.Context) int {
	s.pass.Lock()
	defer s.pass.Unlock()
	throttle := storage.NewThrottle(float64(s.b.cfg.Int64("log.scrub.bytes.per.second")), nil, nil)
	var found, segments int
	var bytes int64
	begin := time.Now()
	for _, p := range s.b.allPartitions() {
		res, err := p.Scrub(ctx, throttle)
		segments += res.Segments
		bytes += res.Bytes
		if n := len(res.Found); n > 0 {
			found += n
			if s.b.onDamage != nil {
				s.b.onDamage(p.Topic, p.Index, n)
			}
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return found
		case errors.Is(err, storage.ErrClosed), errors.Is(err, partition.ErrStorage):
			// Closed (deleted, shutting down) or failed: not ours.
		default:
			s.b.logger.Warn("scrub failed", "topic", p.Topic, "partition", p.Index, "err", err)
		}
	}
	s.b.logger.Info("scrub pass done", "segments", segments, "bytes", bytes, "damaged", found, "took", time.Since(begin).Round(time.Millisecond))
	return found
}

// ScrubNow runs one scrub pass over every local partition now, waiting
// for one under way to end first, and returns the number of damaged
// ranges it found that were not known before.
func (b *Broker) ScrubNow(ctx context.Context) int { return b.scrubber.runPass(ctx) }
