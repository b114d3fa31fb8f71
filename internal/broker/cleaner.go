package broker

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/storage"
)

// The log cleaner task compacts the partitions of topics whose
// cleanup.policy includes compact, as Kafka's LogCleaner does:
// log.cleaner.threads goroutines each repeatedly pick the dirtiest
// partition no other thread is cleaning, one whose dirty ratio exceeds
// min.cleanable.dirty.ratio or whose oldest dirty batch is older than
// max.compaction.lag.ms, and run one cleaning pass on it
// (storage.Log.Clean); when none qualifies a thread sleeps
// log.cleaner.backoff.ms. Each thread has its own offset map of
// log.cleaner.dedupe.buffer.size / log.cleaner.threads bytes (allocated at
// its first pass); all share the log.cleaner.io.max.bytes.per.second
// throttle. The number of threads and log.cleaner.enable are read at start;
// the other keys apply from a thread's next pass. A partition whose
// cleaning fails for another reason than the log closing or being
// truncated is left alone until the broker restarts (Kafka's uncleanable
// partitions).
//
// Lock order: cleaner.mu before Broker.mu and the partitions' locks; no
// lock is held during a pass.
type cleaner struct {
	b       *Broker
	threads int64 // log.cleaner.threads at start, at least 1

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	busy         map[*partition.Partition]bool
	uncleanable  map[*partition.Partition]bool
	throttle     *storage.Throttle // for throttleRate
	throttleRate float64

	nowMu  sync.Mutex // CleanNow, one at a time
	nowMap *storage.OffsetMap
}

func newCleaner(b *Broker) *cleaner {
	c := &cleaner{
		b:           b,
		threads:     max(int64(b.cfg.Int("log.cleaner.threads")), 1),
		busy:        map[*partition.Partition]bool{},
		uncleanable: map[*partition.Partition]bool{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// mapBytes is the memory of one thread's offset map.
func (c *cleaner) mapBytes() int {
	return int(min(c.b.cfg.Int64("log.cleaner.dedupe.buffer.size")/c.threads, math.MaxInt32))
}

// offsetMap returns m, or a new map if the configured size changed.
func (c *cleaner) offsetMap(m *storage.OffsetMap) *storage.OffsetMap {
	if want := c.mapBytes(); m == nil || m.Memory() != storage.NewOffsetMap(want).Memory() {
		return storage.NewOffsetMap(want)
	}
	return m
}

// currentThrottle is the shared throttle at the configured rate.
func (c *cleaner) currentThrottle() *storage.Throttle {
	rate := c.b.cfg.Float("log.cleaner.io.max.bytes.per.second")
	c.mu.Lock()
	defer c.mu.Unlock()
	if rate != c.throttleRate {
		c.throttle, c.throttleRate = storage.NewThrottle(rate, nil, nil), rate
	}
	return c.throttle
}

// start runs the cleaner threads unless log.cleaner.enable is false.
func (c *cleaner) start() {
	if !c.b.cfg.Bool("log.cleaner.enable") {
		return
	}
	for range c.b.cfg.Int("log.cleaner.threads") {
		c.wg.Add(1)
		go c.run()
	}
}

// stop cancels a pass under way and waits for the threads to end.
func (c *cleaner) stop() {
	c.cancel()
	c.wg.Wait()
}

func (c *cleaner) run() {
	defer c.wg.Done()
	var m *storage.OffsetMap
	for {
		m = c.offsetMap(m)
		cleaned := c.cleanFilthiest(m)
		if cleaned {
			continue
		}
		backoff := time.Duration(c.b.cfg.Int64("log.cleaner.backoff.ms")) * time.Millisecond
		t := time.NewTimer(backoff)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// compactJob is a partition of a compacted topic with the topic's cleaner
// settings.
type compactJob struct {
	p        *partition.Partition
	deleteMs int64 // delete.retention.ms
	minLagMs int64 // min.compaction.lag.ms
	maxLagMs int64 // max.compaction.lag.ms
	minRatio float64
}

func isCompacted(c *config.Topic) bool { return slices.Contains(c.List("cleanup.policy"), "compact") }

// compactJobs lists the partitions of every compacted topic.
func (b *Broker) compactJobs() []compactJob {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var jobs []compactJob
	for _, t := range b.topics {
		if !isCompacted(t.conf) {
			continue
		}
		for _, p := range t.parts {
			if p == nil {
				continue
			}
			jobs = append(jobs, compactJob{
				p:        p,
				deleteMs: t.conf.Int64("delete.retention.ms"),
				minLagMs: t.conf.Int64("min.compaction.lag.ms"),
				maxLagMs: t.conf.Int64("max.compaction.lag.ms"),
				minRatio: t.conf.Float("min.cleanable.dirty.ratio"),
			})
		}
	}
	return jobs
}

// grabFilthiest picks the dirtiest partition that qualifies and marks it
// busy; ok is false when none does.
func (c *cleaner) grabFilthiest() (job compactJob, ok bool) {
	now := c.b.now().UnixMilli()
	best := -1.0
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, j := range c.b.compactJobs() {
		if c.busy[j.p] || c.uncleanable[j.p] {
			continue
		}
		info, err := j.p.Cleanable(j.minLagMs)
		if err != nil || info.DirtyBytes <= 0 {
			continue
		}
		ratio := info.DirtyRatio()
		due := info.FirstDirtyTimestamp >= 0 && now-info.FirstDirtyTimestamp > j.maxLagMs
		if ratio <= j.minRatio && !due {
			continue
		}
		if due {
			ratio = math.Max(ratio, 2) // overdue logs go first
		}
		if ratio > best {
			best, job, ok = ratio, j, true
		}
	}
	if ok {
		c.busy[job.p] = true
	}
	return job, ok
}

// cleanFilthiest runs one pass on the dirtiest partition, if any
// qualifies, and reports whether it did.
func (c *cleaner) cleanFilthiest(m *storage.OffsetMap) bool {
	j, ok := c.grabFilthiest()
	if !ok {
		return false
	}
	defer func() {
		c.mu.Lock()
		delete(c.busy, j.p)
		c.mu.Unlock()
	}()
	_, err := c.clean(j, m)
	return err == nil
}

// clean runs one pass over j.p, logging what it did.
func (c *cleaner) clean(j compactJob, m *storage.OffsetMap) (storage.CleanStats, error) {
	began := time.Now()
	st, err := j.p.Clean(c.ctx, storage.CleanOptions{
		Map: m, DeleteRetentionMs: j.deleteMs, MinCompactionLagMs: j.minLagMs, Throttle: c.currentThrottle(),
	})
	log := c.b.logger
	switch {
	case err == nil:
		secs := time.Since(began).Seconds()
		log.Info("log cleaner: cleaned", "topic", j.p.Topic, "partition", j.p.Index,
			"from", st.FirstDirty, "to", st.End, "map_full", st.MapFull,
			"segments_rewritten", st.SegmentsRewritten, "bytes_before", st.SizeBefore, "bytes_after", st.SizeAfter,
			"records_removed", st.RecordsRemoved, "tombstones_removed", st.TombstonesRemoved,
			"map_utilization", st.MapUtilization, "read_mb_s", float64(st.BytesRead)/secs/1e6, "seconds", secs)
	case errors.Is(err, context.Canceled), errors.Is(err, storage.ErrClosed), errors.Is(err, partition.ErrClosed):
	case errors.Is(err, storage.ErrCleanAborted):
		log.Info("log cleaner: pass aborted by a truncation", "topic", j.p.Topic, "partition", j.p.Index)
	default:
		log.Error("log cleaner: partition left uncleanable until restart", "topic", j.p.Topic, "partition", j.p.Index, "err", err)
		c.mu.Lock()
		c.uncleanable[j.p] = true
		c.mu.Unlock()
	}
	return st, err
}

// CleanNow compacts every partition of every compacted topic completely,
// whatever its dirty ratio (min.compaction.lag.ms and delete.retention.ms
// still apply), running as many passes as its offset map needs, and
// returns the number of passes that cleaned something. It waits for
// partitions the cleaner threads are working on. For tests and tools.
func (b *Broker) CleanNow() (passes int, err error) {
	c := b.cleaner
	c.nowMu.Lock()
	defer c.nowMu.Unlock()
	c.nowMap = c.offsetMap(c.nowMap)
	for _, j := range b.compactJobs() {
		if !c.claim(j.p) {
			return passes, c.ctx.Err()
		}
		n, err := c.cleanFully(j)
		c.mu.Lock()
		delete(c.busy, j.p)
		c.mu.Unlock()
		passes += n
		if err != nil {
			return passes, err
		}
	}
	return passes, nil
}

// claim marks p busy, waiting for a cleaner thread that has it; false if
// the cleaner stopped first.
func (c *cleaner) claim(p *partition.Partition) bool {
	for {
		c.mu.Lock()
		if !c.busy[p] {
			c.busy[p] = true
			c.mu.Unlock()
			return true
		}
		c.mu.Unlock()
		select {
		case <-c.ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (c *cleaner) cleanFully(j compactJob) (passes int, err error) {
	for {
		info, err := j.p.Cleanable(j.minLagMs)
		if err != nil {
			return passes, err
		}
		if info.FirstDirty >= info.FirstUncleanable {
			return passes, nil
		}
		st, err := c.clean(j, c.nowMap)
		if err != nil {
			return passes, err
		}
		passes++
		if st.End <= info.FirstDirty { // no progress: cannot happen with a map of one key or more
			return passes, nil
		}
	}
}

// compactedSegmentMs is the segment.ms a topic's logs roll by: for
// compacted topics at most max.compaction.lag.ms, so that the active
// segment, which is never cleaned, cannot hold records longer than that
// (Kafka's LogConfig.maxSegmentMs).
func compactedSegmentMs(c *config.Topic) int64 {
	ms := c.SegmentMs()
	if isCompacted(c) {
		if lag := c.Int64("max.compaction.lag.ms"); lag > 0 && (ms <= 0 || lag < ms) {
			ms = lag
		}
	}
	return ms
}
