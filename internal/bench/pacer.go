package bench

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// Clock is the time source of a run. Tests inject a fake one so that the
// pacing schedule is checked without sleeping.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now is time.Now (with its monotonic reading).
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits for d unless ctx ends first.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Timebase converts clock readings to the Unix nanoseconds stamped into
// records. Conversion goes through the monotonic difference from one wall
// reading taken at the start, so a wall-clock step during the run does not
// distort latencies measured within this process.
type Timebase struct {
	start     time.Time
	startUnix int64
}

// Start is the clock reading the timebase was taken at.
func (tb Timebase) Start() time.Time { return tb.start }

func NewTimebase(start time.Time) Timebase {
	return Timebase{start: start, startUnix: start.UnixNano()}
}

func (tb Timebase) UnixNano(t time.Time) int64 {
	return tb.startUnix + int64(t.Sub(tb.start))
}

// Pacer is an open-loop schedule: record i is due at start + i/rate,
// whatever happened to the records before it. Latency is measured from the
// due time, so a stall in the broker or the client shows up as latency of
// every record scheduled during it instead of silently slowing the sender
// (coordinated omission).
type Pacer struct {
	clock Clock
	start time.Time
	rate  float64 // records per second, > 0
}

// NewPacer returns a pacer for rate records/s starting at start.
func NewPacer(clock Clock, start time.Time, rate float64) *Pacer {
	return &Pacer{clock: clock, start: start, rate: rate}
}

// Due is the intended send time of record i (0-based).
func (p *Pacer) Due(i int64) time.Time {
	return p.start.Add(time.Duration(float64(i) * float64(time.Second) / p.rate))
}

// Wait blocks until record i is due and returns its due time. A record that
// is already late is not delayed further: it goes at once but keeps its due
// time, so its latency includes the lateness.
func (p *Pacer) Wait(ctx context.Context, i int64) (time.Time, error) {
	due := p.Due(i)
	if d := due.Sub(p.clock.Now()); d > 0 {
		if err := p.clock.Sleep(ctx, d); err != nil {
			return due, err
		}
	}
	return due, nil
}

// Schedule hands out records to the producers of one run: the sequence
// number, the intended send time, and when to stop. It is shared by all
// producer goroutines.
//
// The run is a warm-up phase (records intended before warmupEnd, not
// measured) followed by the measured phase, which ends either after limit
// measured records or at end (records intended at or after end are not
// sent). Stop can bring the end forward while the run goes on.
type Schedule struct {
	clock     Clock
	pacer     *Pacer // nil: closed loop, each record is intended "now"
	start     time.Time
	warmupEnd time.Time
	end       time.Time // zero when limit > 0
	limit     int64     // measured records; 0 when end is set
	// stopAfter: records intended at or after start+stopAfter are not
	// sent; math.MaxInt64 until Stop.
	stopAfter atomic.Int64

	seq      atomic.Int64
	measured atomic.Int64
}

func NewSchedule(clock Clock, start time.Time, rate float64, warmup, duration time.Duration, limit int64) *Schedule {
	s := &Schedule{clock: clock, start: start, warmupEnd: start.Add(warmup), limit: limit}
	s.stopAfter.Store(math.MaxInt64)
	if limit == 0 {
		s.end = s.warmupEnd.Add(duration)
	}
	if rate > 0 {
		s.pacer = NewPacer(clock, start, rate)
	}
	return s
}

// Next returns the next record's sequence number and intended send time,
// waiting for it under a pacer; ok is false when the run is over or ctx
// is done.
func (s *Schedule) Next(ctx context.Context) (seq int64, intended time.Time, ok bool) {
	if ctx.Err() != nil {
		return 0, time.Time{}, false
	}
	seq = s.seq.Add(1) - 1
	if s.pacer != nil {
		intended = s.pacer.Due(seq)
	} else {
		intended = s.clock.Now()
	}
	if !s.end.IsZero() && !intended.Before(s.end) || int64(intended.Sub(s.start)) >= s.stopAfter.Load() {
		return 0, time.Time{}, false
	}
	if s.limit > 0 && !s.Warm(intended) && s.measured.Add(1) > s.limit {
		return 0, time.Time{}, false
	}
	if s.pacer != nil {
		if _, err := s.pacer.Wait(ctx, seq); err != nil {
			return 0, time.Time{}, false
		}
	}
	return seq, intended, true
}

// Stop ends the run at at, when that is before its end: records intended
// at or after at are not handed out. A workload whose length is known only
// while it runs (the OMB backlog) uses it.
func (s *Schedule) Stop(at time.Time) {
	storeMin(&s.stopAfter, int64(max(at.Sub(s.start), 0)))
}

// WarmupEnd is when the measured phase begins.
func (s *Schedule) WarmupEnd() time.Time { return s.warmupEnd }

// Warm reports whether a record intended at that time is warm-up.
func (s *Schedule) Warm(intended time.Time) bool { return intended.Before(s.warmupEnd) }
