package bench

import (
	"sync"
	"testing"
	"time"
)

// within reports whether got is within the histogram's 0.1% precision of
// want (rounded to whole microseconds).
func within(got, want int64) bool {
	tol := want/1000 + 1
	return got >= want-tol && got <= want+tol
}

func TestBenchHistogramPercentiles(t *testing.T) {
	h := NewHistogram()
	if s := h.Summary(); s != (LatencySummary{}) {
		t.Fatalf("empty histogram summary %+v, want zeros", s)
	}
	// 1..10000 µs once each: p50 = 5000, p99 = 9900, p99.9 = 9990.
	for us := 1; us <= 10000; us++ {
		h.Record(time.Duration(us) * time.Microsecond)
	}
	s := h.Summary()
	for _, c := range []struct {
		name      string
		got, want int64
	}{{"p50", s.P50, 5000}, {"p99", s.P99, 9900}, {"p99.9", s.P999, 9990}} {
		if !within(c.got, c.want) {
			t.Errorf("%s = %d µs, want %d ±0.1%%", c.name, c.got, c.want)
		}
	}
	if s.Max != 10000 || s.Count != 10000 {
		t.Errorf("max %d count %d, want exactly 10000 and 10000", s.Max, s.Count)
	}
	if got := h.Quantile(99); !within(got.Microseconds(), 9900) {
		t.Errorf("Quantile(99) = %s, want 9.9ms", got)
	}
}

func TestBenchHistogramSkewedTail(t *testing.T) {
	// 990 fast samples and 10 slow ones: p50 stays fast, p99.9 sees the tail.
	h := NewHistogram()
	for range 990 {
		h.Record(200 * time.Microsecond)
	}
	for range 10 {
		h.Record(2 * time.Second)
	}
	s := h.Summary()
	// p99.9 lands in the 2 s bucket, whose top lies above 2 s: it is
	// capped at the exact maximum so that p99.9 <= max always holds.
	if !within(s.P50, 200) || !within(s.P99, 200) || s.P999 != 2_000_000 || s.Max != 2_000_000 {
		t.Fatalf("summary %+v: want p50=p99=200µs, p99.9=max=2s exactly", s)
	}
}

func TestBenchHistogramClamps(t *testing.T) {
	h := NewHistogram()
	h.Record(-5 * time.Millisecond)
	h.Record(2 * time.Minute)
	h.Record(1500 * time.Nanosecond) // truncated to 1 µs
	if h.Clamped() != 2 || h.Count() != 3 {
		t.Fatalf("clamped %d count %d, want 2 and 3", h.Clamped(), h.Count())
	}
	s := h.Summary()
	if s.Max != histHighestUs {
		t.Fatalf("max %d, want the 60 s bound %d", s.Max, histHighestUs)
	}
	if h.Quantile(0) != 0 {
		t.Fatalf("min %s, want 0 for the negative sample", h.Quantile(0))
	}
}

func TestBenchHistogramConcurrent(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i+1) * time.Microsecond)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			h.Quantile(99)
		}
	})
	wg.Wait()
	if h.Count() != 4000 || h.Summary().Max != 4000 {
		t.Fatalf("count %d max %d, want 4000 and 4000", h.Count(), h.Summary().Max)
	}
}
