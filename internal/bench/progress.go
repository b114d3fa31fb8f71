package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// counters are the running totals a progress line reads.
type counters struct {
	records atomic.Int64 // warm-up included
	bytes   atomic.Int64
}

func (c *counters) add(records, bytes int64) {
	c.records.Add(records)
	c.bytes.Add(bytes)
}

// progressLine is one latency column of the progress line.
type progressLine struct {
	name string
	hist *Histogram
}

// progress writes one line per interval: elapsed time, records/s and MiB/s
// over the last interval, and p99 of the measured samples so far.
type progress struct {
	out       io.Writer
	interval  time.Duration
	clock     Clock
	start     time.Time
	warmupEnd time.Time
	c         *counters
	lats      []progressLine

	stop chan struct{}
	done sync.WaitGroup
}

// startProgress starts the progress goroutine; it does nothing when out is
// nil. Call the returned function to stop it.
func startProgress(out io.Writer, interval time.Duration, clock Clock, start, warmupEnd time.Time, c *counters, lats ...progressLine) (stop func()) {
	if out == nil || interval <= 0 {
		return func() {}
	}
	p := &progress{out: out, interval: interval, clock: clock, start: start, warmupEnd: warmupEnd,
		c: c, lats: lats, stop: make(chan struct{})}
	p.done.Add(1)
	go p.run()
	var once sync.Once
	return func() {
		once.Do(func() { close(p.stop); p.done.Wait() })
	}
}

func (p *progress) run() {
	defer p.done.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	last, lastRecords, lastBytes := p.clock.Now(), int64(0), int64(0)
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		now := p.clock.Now()
		records, bytes := p.c.records.Load(), p.c.bytes.Load()
		secs := now.Sub(last).Seconds()
		if secs <= 0 {
			continue
		}
		fmt.Fprint(p.out, p.format(now, float64(records-lastRecords)/secs, float64(bytes-lastBytes)/mib/secs))
		last, lastRecords, lastBytes = now, records, bytes
	}
}

func (p *progress) format(now time.Time, recsPerS, mibPerS float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%7.1fs %10.0f records/s %8.2f MiB/s", now.Sub(p.start).Seconds(), recsPerS, mibPerS)
	for _, l := range p.lats {
		if l.hist.Count() == 0 {
			fmt.Fprintf(&b, "   %s p99 -", l.name)
			continue
		}
		fmt.Fprintf(&b, "   %s p99 %s", l.name, formatLatency(l.hist.Quantile(99)))
	}
	if now.Before(p.warmupEnd) {
		b.WriteString("   (warm-up)")
	}
	b.WriteByte('\n')
	return b.String()
}

// formatLatency shows a latency with three significant figures.
func formatLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}
