package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: microsecond resolution from 1 µs to 60 s with three
// significant figures, so any reported percentile is within 0.1% of the
// recorded value.
const (
	histLowestUs  = 1
	histHighestUs = int64(60 * time.Second / time.Microsecond)
	histSigFigs   = 3
)

// Histogram is a latency histogram safe for concurrent use (kgo calls
// promises of different clients from different goroutines, and the progress
// line reads it while the run goes on).
type Histogram struct {
	mu      sync.Mutex
	h       *hdrhistogram.Histogram
	clamped int64 // samples outside [0, 60 s], recorded at the nearest bound
	max     int64 // exact largest sample in µs (the histogram's is rounded up)
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(histLowestUs, histHighestUs, histSigFigs)}
}

// Record adds one latency sample. A negative sample (possible only if the
// clock misbehaves) counts as 0 and one above 60 s as 60 s; both are
// counted in Clamped so they are not hidden.
func (h *Histogram) Record(d time.Duration) {
	us := int64(d / time.Microsecond)
	clamped := false
	switch {
	case us < 0:
		us, clamped = 0, true
	case us > histHighestUs:
		us, clamped = histHighestUs, true
	}
	h.mu.Lock()
	// RecordValue only fails outside the trackable range, excluded above.
	_ = h.h.RecordValue(us)
	if clamped {
		h.clamped++
	}
	h.max = max(h.max, us)
	h.mu.Unlock()
}

// Quantile returns the latency at q percent (0-100), 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Duration(h.h.ValueAtQuantile(q)) * time.Microsecond
}

// Count is the number of samples.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h.TotalCount()
}

// Clamped is the number of samples recorded at a bound instead of their
// value.
func (h *Histogram) Clamped() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clamped
}

// LatencySummary is the JSON form of a histogram, in microseconds.
type LatencySummary struct {
	Count int64 `json:"count"`
	P50   int64 `json:"p50"`
	P99   int64 `json:"p99"`
	P999  int64 `json:"p999"`
	Max   int64 `json:"max"`
}

// Summary returns the percentiles the reports show.
func (h *Histogram) Summary() LatencySummary {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h.TotalCount() == 0 {
		return LatencySummary{}
	}
	v := h.h.ValueAtPercentilesSlice([]float64{50, 99, 99.9})
	// A percentile is the top of its bucket, which can lie above the exact
	// maximum; no sample is larger than the maximum, so cap there.
	return LatencySummary{
		Count: h.h.TotalCount(),
		P50:   min(v[0], h.max),
		P99:   min(v[1], h.max),
		P999:  min(v[2], h.max),
		Max:   h.max,
	}
}
