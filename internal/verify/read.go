package verify

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// reader tracks how far a reader (a plain consumer, or a whole group)
// got in each partition: the next offset after the highest it read.
type reader struct {
	name string

	mu   sync.Mutex
	next map[int32]int64
	last time.Time // of the latest record
}

func newReader(name string) *reader {
	return &reader{name: name, next: map[int32]int64{}, last: time.Now()}
}

func (rd *reader) saw(rec *kgo.Record) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rec.Offset+1 > rd.next[rec.Partition] {
		rd.next[rec.Partition] = rec.Offset + 1
	}
	rd.last = time.Now()
}

// reached reports whether the reader got to ends in every partition.
func (rd *reader) reached(ends map[int32]int64) bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for p, end := range ends {
		if end > 0 && rd.next[p] < end {
			return false
		}
	}
	return true
}

func (rd *reader) idleSince() time.Time {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.last
}

func (r *run) consumerOpts(id string) []kgo.Opt {
	opts := append(r.clientOpts(id), kgo.FetchMaxWait(500*time.Millisecond))
	if r.cfg.Transactional {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return opts
}

// allFromStart assigns every partition from its log start.
func (r *run) allFromStart() kgo.Opt {
	offsets := make(map[int32]kgo.Offset, len(r.partitions))
	for _, p := range r.partitions {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	return kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.cfg.Topic: offsets})
}

// poll reads with cl into rd, recorded as name's reads, until ctx ends.
func (r *run) poll(ctx context.Context, cl *kgo.Client, rd *reader, name string) {
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			r.errs.Add(1)
			r.cfg.Logger.Warn("verify: fetch error", "reader", name, "topic", t, "partition", p, "err", err)
		})
		fetches.EachRecord(func(rec *kgo.Record) {
			r.addRead(name, rec)
			rd.saw(rec)
		})
	}
}

// startPlain starts a consumer assigned every partition from the start.
func (r *run) startPlain(ctx context.Context, wg *sync.WaitGroup, name string) (*reader, error) {
	cl, err := kgo.NewClient(append(r.consumerOpts(name), r.allFromStart())...)
	if err != nil {
		return nil, fmt.Errorf("verify: consumer client: %w", err)
	}
	rd := newReader(name)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cl.Close()
		r.poll(ctx, cl, rd, name)
	}()
	return rd, nil
}

// startGroupMember starts a member of the group; its reads count toward
// the group's progress rd. It commits every half second, and what it
// read when it stops.
func (r *run) startGroupMember(ctx context.Context, wg *sync.WaitGroup, rd *reader, name string) error {
	opts := append(r.consumerOpts(name),
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.ConsumeTopics(r.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitInterval(500*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("verify: group consumer client: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cl.Close()
		r.poll(ctx, cl, rd, name)
		cctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
		defer cancel()
		if err := cl.CommitUncommittedOffsets(cctx); err != nil {
			r.cfg.Logger.Warn("verify: final commit failed", "reader", name, "err", err)
		}
	}()
	return nil
}

// waitCaughtUp waits until every reader reached ends, or none has read a
// record for DrainTimeout.
func (r *run) waitCaughtUp(ctx context.Context, readers []*reader, ends map[int32]int64) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		done, idle := true, true
		for _, rd := range readers {
			if rd == nil || rd.reached(ends) {
				continue
			}
			done = false
			if time.Since(rd.idleSince()) < r.cfg.DrainTimeout {
				idle = false
			}
		}
		if done || idle {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// finalRead reads every partition from its start to the end offsets
// listed once the readers stopped, giving up on the partitions not
// finished after DrainTimeout without a record.
func (r *run) finalRead(ctx context.Context) error {
	ends, err := r.endOffsets(ctx)
	if err != nil {
		return err
	}
	const name = "final"
	cl, err := kgo.NewClient(append(r.consumerOpts(name), r.allFromStart())...)
	if err != nil {
		return fmt.Errorf("verify: final read client: %w", err)
	}
	defer cl.Close()
	rd := newReader(name)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.poll(fctx, cl, rd, name)
	}()
	r.waitCaughtUp(ctx, []*reader{rd}, ends)
	cancel()
	<-done
	if !rd.reached(ends) {
		rd.mu.Lock()
		got := maps.Clone(rd.next)
		rd.mu.Unlock()
		r.cfg.Logger.Warn("verify: final read stopped before the end offsets", "reached", got, "ends", ends, "idle", r.cfg.DrainTimeout)
	}
	return nil
}

// commitObserver polls the group's committed offsets and records every
// change.
type commitObserver struct {
	r    *run
	last map[int32]int64
	// stale partitions had an offset beyond their end at the start (a
	// topic deleted and recreated): the group's reset to the start is
	// verify's doing, not an anomaly.
	stale map[int32]bool
}

// newCommitObserver records the group's offsets as they are before the
// run.
func (r *run) newCommitObserver(ctx context.Context) *commitObserver {
	o := &commitObserver{r: r, last: map[int32]int64{}, stale: map[int32]bool{}}
	// A topic created a moment ago may not be listed yet; it has no
	// stale offsets either.
	ends, err := r.endOffsets(ctx)
	if err != nil {
		r.cfg.Logger.Debug("verify: end offsets", "err", err)
	}
	o.observe(ctx)
	for p, off := range o.last {
		if end, ok := ends[p]; ok && off > end {
			o.stale[p] = true
		}
	}
	return o
}

func (o *commitObserver) watch(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			o.observe(ctx)
		}
	}
}

// observe fetches the group's offsets once; errors are logged (and
// counted): a missed observation hides nothing that a later one would
// not show.
func (o *commitObserver) observe(ctx context.Context) {
	r := o.r
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	resps, err := r.adm.FetchOffsets(ctx, r.cfg.Group)
	if err != nil {
		if ctx.Err() == nil {
			r.errs.Add(1)
			r.cfg.Logger.Warn("verify: fetch committed offsets", "group", r.cfg.Group, "err", err)
		}
		return
	}
	for _, p := range r.partitions {
		resp, ok := resps.Lookup(r.cfg.Topic, p)
		if !ok || resp.Err != nil || resp.At < 0 {
			continue
		}
		if last, seen := o.last[p]; seen && last == resp.At {
			continue
		}
		reset := o.stale[p] && resp.At < o.last[p]
		if reset {
			delete(o.stale, p)
		}
		o.last[p] = resp.At
		r.addCommit(Commit{Group: r.cfg.Group, Partition: p, Offset: resp.At, Reset: reset})
	}
}
