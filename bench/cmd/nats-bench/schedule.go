package main

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-dev/gregor/internal/bench"
)

// The record value layout is gregor bench's, big-endian:
//
//	[0, 8)   intended send time, Unix nanoseconds (see timebase)
//	[8, 16)  sequence number in the run, from 0, across all producers
//	[16, N)  random bytes, the same for every record of a run

func encodeHeader(value []byte, unixNano, seq int64) {
	binary.BigEndian.PutUint64(value[0:8], uint64(unixNano))
	binary.BigEndian.PutUint64(value[8:16], uint64(seq))
}

func decodeSentTime(value []byte) (int64, bool) {
	if len(value) < bench.HeaderSize {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(value[0:8])), true
}

// counters count records and value bytes.
type counters struct{ records, bytes atomic.Int64 }

func (c *counters) add(records, bytes int64) {
	c.records.Add(records)
	c.bytes.Add(bytes)
}

// errorLog counts errors by message and logs the first of each kind.
type errorLog struct {
	what  string
	log   *slog.Logger
	mu    sync.Mutex
	kinds map[string]int64
	n     int64
}

func newErrorLog(what string, log *slog.Logger) *errorLog {
	return &errorLog{what: what, log: log, kinds: make(map[string]int64)}
}

func (e *errorLog) add(msg string) {
	e.mu.Lock()
	first := e.kinds[msg] == 0
	e.kinds[msg]++
	e.n++
	e.mu.Unlock()
	if first {
		e.log.Warn("nats-bench: "+e.what+" error", "err", msg)
	}
}

// fill adds the errors to res.
func (e *errorLog) fill(res *bench.Result) {
	e.mu.Lock()
	defer e.mu.Unlock()
	res.Errors += e.n
	for k, v := range e.kinds {
		if res.ErrorKinds == nil {
			res.ErrorKinds = make(map[string]int64)
		}
		res.ErrorKinds[k] += v
	}
}

// setThroughput fills the rates of res as gregor bench does.
func setThroughput(res *bench.Result, records, bytes int64, elapsed time.Duration) {
	res.Records, res.Bytes = records, bytes
	res.MBUnit = bench.MBUnit
	res.DurationS = elapsed.Seconds()
	if elapsed > 0 {
		res.RecordsPerS = float64(records) / elapsed.Seconds()
		res.MBPerS = float64(bytes) / (1 << 20) / elapsed.Seconds()
	}
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// startProgress prints a progress line every interval until stopped.
func startProgress(interval time.Duration, start time.Time, what string, c *counters, h *bench.Histogram) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		var lastRecs int64
		last := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				recs := c.records.Load()
				rate := float64(recs-lastRecs) / now.Sub(last).Seconds()
				line := fmt.Sprintf("%6.1fs %s %d records, %.0f records/s", now.Sub(start).Seconds(), what, recs, rate)
				if h != nil && h.Count() > 0 {
					line += fmt.Sprintf(", p99 %s", h.Quantile(99))
				}
				fmt.Fprintln(os.Stderr, line)
				lastRecs, last = recs, now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
