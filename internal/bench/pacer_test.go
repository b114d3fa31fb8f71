package bench

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock moves only when slept on, or by step at every Now call (to
// model time passing while a closed-loop sender works).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	step   time.Duration
	slept  time.Duration
	sleeps int
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept += d
	c.sleeps++
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestBenchPacerDue(t *testing.T) {
	start := newFakeClock().now
	for _, tc := range []struct {
		rate float64
		i    int64
		want time.Duration
	}{
		{1000, 0, 0},
		{1000, 1, time.Millisecond},
		{1000, 1500, 1500 * time.Millisecond},
		{3, 1, 333333333 * time.Nanosecond},
		{3, 3, time.Second},
		{0.5, 2, 4 * time.Second},
		{1e6, 1e9, 1000 * time.Second},
	} {
		p := NewPacer(nil, start, tc.rate)
		if got := p.Due(tc.i).Sub(start); got != tc.want {
			t.Errorf("rate %g: Due(%d) = start+%s, want start+%s", tc.rate, tc.i, got, tc.want)
		}
	}
}

func TestBenchPacerWaitSleepsOnlyWhenAhead(t *testing.T) {
	clock := newFakeClock()
	start := clock.now
	p := NewPacer(clock, start, 1000)
	ctx := context.Background()

	due, err := p.Wait(ctx, 0)
	if err != nil || !due.Equal(start) || clock.sleeps != 0 {
		t.Fatalf("record 0: due %s err %v sleeps %d; want start, no sleep", due.Sub(start), err, clock.sleeps)
	}
	due, _ = p.Wait(ctx, 1)
	if due.Sub(start) != time.Millisecond || clock.slept != time.Millisecond || !clock.now.Equal(due) {
		t.Fatalf("record 1: due %s, slept %s, now %s; want 1ms each", due.Sub(start), clock.slept, clock.now.Sub(start))
	}
	// A 10 ms stall: records 2..10 are late. They go at once and keep
	// their intended times, so their latency includes the stall.
	clock.advance(10 * time.Millisecond)
	for i := int64(2); i <= 10; i++ {
		due, _ = p.Wait(ctx, i)
		if due.Sub(start) != time.Duration(i)*time.Millisecond {
			t.Fatalf("late record %d: due start+%s, want start+%dms", i, due.Sub(start), i)
		}
	}
	if clock.sleeps != 1 {
		t.Fatalf("late records slept: %d sleeps, want 1 (record 1 only)", clock.sleeps)
	}
	// Back on schedule: record 12 is due at 12 ms, the clock says 11 ms.
	due, _ = p.Wait(ctx, 12)
	if clock.sleeps != 2 || !clock.now.Equal(due) || due.Sub(start) != 12*time.Millisecond {
		t.Fatalf("record 12: sleeps %d now %s due %s", clock.sleeps, clock.now.Sub(start), due.Sub(start))
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Wait(cctx, 100); err == nil {
		t.Fatal("Wait on a cancelled context returned no error")
	}
}

// drain collects everything a schedule hands out.
func drain(t *testing.T, s *Schedule) (seqs []int64, times []time.Time) {
	t.Helper()
	for {
		seq, at, ok := s.Next(context.Background())
		if !ok {
			return
		}
		seqs = append(seqs, seq)
		times = append(times, at)
		if len(seqs) > 1e6 {
			t.Fatal("schedule does not end")
		}
	}
}

func TestBenchScheduleOpenLoopDuration(t *testing.T) {
	clock := newFakeClock()
	start := clock.now
	s := NewSchedule(clock, start, 2000, 0, time.Second, 0)
	seqs, times := drain(t, s)
	if len(seqs) != 2000 {
		t.Fatalf("%d records in 1 s at 2000/s, want 2000", len(seqs))
	}
	for i := range seqs {
		want := time.Duration(i) * 500 * time.Microsecond
		if seqs[i] != int64(i) || times[i].Sub(start) != want {
			t.Fatalf("record %d: seq %d at start+%s, want seq %d at start+%s", i, seqs[i], times[i].Sub(start), i, want)
		}
		if s.Warm(times[i]) {
			t.Fatalf("record %d is warm-up without a warm-up", i)
		}
	}
	if got := clock.now.Sub(start); got != 1999*500*time.Microsecond {
		t.Fatalf("clock ended at start+%s, want the last record's due time", got)
	}
}

func TestBenchScheduleOpenLoopRecordsAfterWarmup(t *testing.T) {
	clock := newFakeClock()
	start := clock.now
	s := NewSchedule(clock, start, 100, time.Second, 0, 50)
	seqs, times := drain(t, s)
	if len(seqs) != 150 {
		t.Fatalf("%d records, want 100 warm-up + 50 measured", len(seqs))
	}
	for i, at := range times {
		if warm := s.Warm(at); warm != (i < 100) {
			t.Fatalf("record %d at start+%s: warm %t", i, at.Sub(start), warm)
		}
	}
}

func TestBenchScheduleClosedLoop(t *testing.T) {
	t.Run("duration", func(t *testing.T) {
		clock := newFakeClock()
		clock.step = time.Millisecond // each record takes 1 ms to send
		start := clock.now
		s := NewSchedule(clock, start, 0, 200*time.Millisecond, time.Second, 0)
		seqs, times := drain(t, s)
		warm := 0
		for _, at := range times {
			if s.Warm(at) {
				warm++
			}
		}
		if len(seqs) != 1200 || warm != 200 || clock.sleeps != 0 {
			t.Fatalf("%d records, %d warm, %d sleeps; want 1200, 200, 0", len(seqs), warm, clock.sleeps)
		}
	})
	t.Run("records", func(t *testing.T) {
		clock := newFakeClock()
		s := NewSchedule(clock, clock.now, 0, 0, 0, 777)
		if seqs, _ := drain(t, s); len(seqs) != 777 {
			t.Fatalf("%d records, want 777", len(seqs))
		}
	})
}

func TestBenchScheduleConcurrentProducersExactCount(t *testing.T) {
	clock := newFakeClock()
	s := NewSchedule(clock, clock.now, 0, 0, 0, 10000)
	var mu sync.Mutex
	seen := make(map[int64]bool)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				seq, _, ok := s.Next(context.Background())
				if !ok {
					return
				}
				mu.Lock()
				if seen[seq] {
					t.Errorf("sequence %d handed out twice", seq)
				}
				seen[seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 10000 {
		t.Fatalf("%d records across 8 producers, want 10000", len(seen))
	}
}

func TestBenchScheduleStopsOnCancel(t *testing.T) {
	clock := newFakeClock()
	s := NewSchedule(clock, clock.now, 10, 0, time.Hour, 0)
	ctx, cancel := context.WithCancel(context.Background())
	if _, _, ok := s.Next(ctx); !ok {
		t.Fatal("first record refused")
	}
	cancel()
	if _, _, ok := s.Next(ctx); ok {
		t.Fatal("record handed out after cancel")
	}
}

func TestBenchTimebaseUnixNano(t *testing.T) {
	start := time.Now() // has a monotonic reading
	tb := NewTimebase(start)
	later := start.Add(1500 * time.Millisecond)
	if got := tb.UnixNano(later) - start.UnixNano(); got != int64(1500*time.Millisecond) {
		t.Fatalf("unixNano advanced %d ns, want 1.5 s", got)
	}
}

func TestBenchScheduleStopBringsTheEndForward(t *testing.T) {
	clock := newFakeClock()
	start := clock.now
	s := NewSchedule(clock, start, 1000, 0, time.Hour, 0)
	s.Stop(start.Add(2 * time.Second)) // later calls only bring it forward
	s.Stop(start.Add(time.Hour))
	s.Stop(start.Add(100 * time.Millisecond))
	s.Stop(start.Add(time.Second))
	seqs, times := drain(t, s)
	if len(seqs) != 100 || times[len(times)-1].Sub(start) != 99*time.Millisecond {
		t.Fatalf("%d records, last at start+%s; want 100, the last at 99ms", len(seqs), times[len(times)-1].Sub(start))
	}
}
