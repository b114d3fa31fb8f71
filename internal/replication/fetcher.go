package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	fetchVersion                = 12 // topic names, flexible
	offsetForLeaderEpochVersion = 3  // replica id
	listOffsetsVersion          = 4  // current leader epoch
)

// Repairer is a Replica that can have damaged batches at rest (found by
// the broker's scrubber) to be refetched from the leader. Before each fetch
// the fetcher asks it to truncate to the damage (RepairTruncate), which it
// does only once it is out of the committed ISR; until then the fetch is
// sent from the start of the damage instead of the log end and its answer
// dropped: the leader sees this replica's log end go back and removes it
// from the ISR. So a damaged replica never truncates while an election
// could still pick it from the ISR (see internal/partition/scrub.go).
type Repairer interface {
	// DamagedFrom is the first damaged offset, if any.
	DamagedFrom() (int64, bool)
	// RepairTruncate truncates to the first damaged offset if the
	// replica may (it is out of the ISR); done reports it did.
	RepairTruncate() (from int64, done bool, err error)
}

// repairOffset applies Repairer before a fetch: it reports whether the
// fetch must announce the damage instead of fetching from the log end.
func repairOffset(r Replica) (announce bool, err error) {
	rp, ok := r.(Repairer)
	if !ok {
		return false, nil
	}
	if _, damaged := rp.DamagedFrom(); !damaged {
		return false, nil
	}
	_, done, err := rp.RepairTruncate()
	if err != nil {
		return false, err
	}
	_, damaged := rp.DamagedFrom()
	return !done && damaged, nil
}

// fetcher is the goroutine that fetches from one leader broker.
type fetcher struct {
	m      *Manager
	leader int32
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}    // a partition was added
	parts  map[tp]*follower // guarded by m.mu
	log    *slog.Logger
	failed string // last logged connection problem; goroutine-owned
	sess   fetchSession
	// frame is the buffer Fetch responses are read into, reused from one
	// to the next (goroutine-owned): the records are appended to the
	// replicas before the next fetch, and nothing keeps them. An answer
	// with no records (an idle leader) lets a large one go.
	frame []byte
}

// maxIdleFrame is the largest response buffer a fetcher keeps across a
// fetch that brought no records.
const maxIdleFrame = 64 << 10

// fetchSession is the fetcher's KIP-227 session with its leader
// (goroutine-owned): once the leader has answered a full fetch with a
// session id, each fetch names only the partitions whose fetch offset, log
// start offset or leader epoch changed, and forgets those no longer
// fetched (in another state, backing off, or removed); the leader answers
// only partitions with news. A partition left out of a fetch stays in the
// session at the offset last sent, so one that stops fetching (to truncate,
// say) must be forgotten at once: the leader would otherwise go on counting
// the follower at an offset it no longer has.
type fetchSession struct {
	id    int32 // 0: none; the next fetch is full, and opens one
	epoch int32
	sent  map[tp]sentPartition
}

type sentPartition struct {
	offset, logStart int64
	epoch            int32
}

// reset ends the session after an error: the next fetch is full.
func (s *fetchSession) reset() {
	s.epoch, s.sent = 0, nil // id kept: the next full fetch closes it
}

func (m *Manager) newFetcherLocked(leader int32) *fetcher {
	ctx, cancel := context.WithCancel(m.ctx)
	ft := &fetcher{
		m: m, leader: leader, ctx: ctx, cancel: cancel,
		wake:  make(chan struct{}, 1),
		parts: map[tp]*follower{},
		log:   m.o.Logger.With("leader", leader),
	}
	m.fetchers[leader] = ft
	m.wg.Add(1)
	go ft.run()
	return ft
}

func (ft *fetcher) poke() {
	select {
	case ft.wake <- struct{}{}:
	default:
	}
}

func (ft *fetcher) snapshot() []*follower {
	ft.m.mu.Lock()
	defer ft.m.mu.Unlock()
	out := make([]*follower, 0, len(ft.parts))
	for _, f := range ft.parts {
		out = append(out, f)
	}
	return out
}

// run loops until the fetcher is cancelled: each round makes one RPC, for
// the most urgent state first (truncation, then offset lookups, then the
// fetch), so a partition that is still truncating never holds back others
// for longer than one round trip.
func (ft *fetcher) run() {
	defer ft.m.wg.Done()
	defer ft.cancel()
	for ft.ctx.Err() == nil {
		var truncate, list, fetch []*follower
		var next time.Time
		now := time.Now()
		for _, f := range ft.snapshot() {
			if f.state == stateParked {
				continue
			}
			if f.delayUntil.After(now) {
				if next.IsZero() || f.delayUntil.Before(next) {
					next = f.delayUntil
				}
				continue
			}
			switch f.state {
			case stateTruncate:
				truncate = append(truncate, f)
			case stateListEarliest, stateListLatest:
				list = append(list, f)
			case stateFetch:
				fetch = append(fetch, f)
			}
		}
		var batch []*follower
		var err error
		switch {
		case len(truncate) > 0:
			batch, err = truncate, ft.truncate(truncate)
		case len(list) > 0:
			batch, err = list, ft.listOffsets(list)
		case len(fetch) > 0:
			batch, err = fetch, ft.fetch(fetch)
		default:
			ft.idle(next)
			continue
		}
		if err != nil && ft.ctx.Err() == nil {
			ft.requestFailed(batch, err)
		} else if err == nil && ft.failed != "" {
			ft.log.Info("replication: leader reachable again")
			ft.failed = ""
		}
	}
}

// idle waits for a new partition, the end of the earliest delay, or the end.
func (ft *fetcher) idle(until time.Time) {
	var timer <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ft.ctx.Done():
	case <-ft.wake:
	case <-timer:
	}
}

// requestFailed backs off all partitions of a failed RPC (the connection
// is redialed on the next one).
func (ft *fetcher) requestFailed(batch []*follower, err error) {
	if msg := err.Error(); msg != ft.failed {
		ft.log.Warn("replication: request to leader failed", "err", err, "partitions", len(batch))
		ft.failed = msg
	}
	until := time.Now().Add(ft.m.o.Backoff)
	for _, f := range batch {
		f.delay(until)
	}
}

// request sends req to the leader; frame as in wire.Pool.RequestInto.
func (ft *fetcher) request(req kmsg.Request, frame *[]byte) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ft.ctx, ft.m.o.MaxWait+ft.m.o.RequestTimeout)
	defer cancel()
	return ft.m.o.Pool.RequestInto(ctx, ft.leader, req, frame)
}

// fetch sends one Fetch for fetchable partitions and applies the answer.
func (ft *fetcher) fetch(parts []*follower) error {
	o := &ft.m.o
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.ReplicaID = o.NodeID
	req.MaxWaitMillis = int32(o.MaxWait / time.Millisecond)
	req.MinBytes = o.MinBytes
	req.MaxBytes = o.MaxBytes
	sess := &ft.sess
	incremental := sess.id != 0 && sess.epoch > 0
	req.SessionID, req.SessionEpoch = sess.id, sess.epoch
	if !incremental {
		req.SessionEpoch = 0 // a full fetch that opens a session (closing the old one named)
	}
	byKey := make(map[tp]*follower, len(parts))
	want := make(map[tp]sentPartition, len(parts))
	topics := map[string]int{} // topic → index in req.Topics
	for _, f := range parts {
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = f.index
		p.CurrentLeaderEpoch = f.epoch
		p.PartitionMaxBytes = o.PartitionMaxBytes
		var announce bool
		removed, err := f.call(func(r Replica) error {
			var err error
			announce, err = repairOffset(r)
			p.FetchOffset, p.LogStartOffset = r.LogEndOffset(), r.LogStartOffset()
			if announce {
				p.FetchOffset, _ = r.(Repairer).DamagedFrom()
			}
			return err
		})
		if removed {
			continue
		}
		if err != nil {
			ft.localFailed(f, err)
			continue
		}
		f.announcing = announce
		byKey[f.tp] = f
		sp := sentPartition{p.FetchOffset, p.LogStartOffset, p.CurrentLeaderEpoch}
		want[f.tp] = sp
		if prev, ok := sess.sent[f.tp]; incremental && ok && prev == sp {
			continue // the session has it as it is
		}
		t := topicEntry(&req.Topics, topics, f.topic, func(name string) kmsg.FetchRequestTopic {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = name
			return t
		})
		t.Partitions = append(t.Partitions, p)
	}
	if len(byKey) == 0 && !incremental {
		return nil
	}
	if incremental {
		forgotten := map[string]int{}
		for k := range sess.sent {
			if _, ok := want[k]; ok {
				continue
			}
			fo := topicEntry(&req.ForgottenTopics, forgotten, k.topic, func(name string) kmsg.FetchRequestForgottenTopic {
				fo := kmsg.NewFetchRequestForgottenTopic()
				fo.Topic = name
				return fo
			})
			fo.Partitions = append(fo.Partitions, k.index)
		}
	}
	kresp, err := ft.request(req, &ft.frame)
	if err != nil {
		sess.reset()
		return err
	}
	resp := kresp.(*kmsg.FetchResponse)
	defer ft.keepFrame(resp)
	switch err := kerr.ErrorForCode(resp.ErrorCode); {
	case errors.Is(err, kerr.FetchSessionIDNotFound), errors.Is(err, kerr.InvalidFetchSessionEpoch),
		errors.Is(err, kerr.FetchSessionTopicIDError):
		ft.log.Debug("replication: fetch session ended; fetching in full", "err", err)
		sess.id = 0
		sess.reset()
		return nil
	case err != nil:
		sess.reset()
	case resp.SessionID == 0:
		sess.id = 0
		sess.reset()
	default:
		sess.id, sess.epoch, sess.sent = resp.SessionID, nextEpoch(sess.epoch), want
	}
	return ft.applyFetchResponse(resp, byKey)
}

// keepFrame drops the reused response buffer if it is large and resp,
// read into it, brought no records.
func (ft *fetcher) keepFrame(resp *kmsg.FetchResponse) {
	if cap(ft.frame) <= maxIdleFrame {
		return
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if len(resp.Topics[i].Partitions[j].RecordBatches) > 0 {
				return
			}
		}
	}
	ft.frame = nil
}

// topicEntry returns the entry for topic in a request's topic list,
// appending one made by mk if it has none yet (index maps topics to their
// entries' positions).
func topicEntry[T any](list *[]T, index map[string]int, topic string, mk func(string) T) *T {
	i, ok := index[topic]
	if !ok {
		i = len(*list)
		index[topic] = i
		*list = append(*list, mk(topic))
	}
	return &(*list)[i]
}

func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// applyFetchResponse applies a Fetch answer to the partitions asked for.
func (ft *fetcher) applyFetchResponse(resp *kmsg.FetchResponse, byKey map[tp]*follower) error {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			if f := byKey[tp{t.Topic, p.Partition}]; f != nil {
				ft.applyFetch(f, p)
			}
		}
	}
	return nil
}

func (ft *fetcher) applyFetch(f *follower, p *kmsg.FetchResponseTopicPartition) {
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		if errors.Is(err, kerr.OffsetOutOfRange) {
			f.outOfRange++
			f.setState(stateListEarliest)
			if f.outOfRange > 1 { // the last fix did not help: do not spin
				f.delay(time.Now().Add(ft.m.o.Backoff))
			}
			ft.debug(f, "fetch offset out of range", err)
			return
		}
		ft.partitionError(f, "fetch", err)
		return
	}
	if f.announcing {
		// A fetch from our damage, only to show the leader we lack it;
		// what came is not appended (see Repairer). Once the ISR has
		// shrunk, the next fetch truncates and refetches.
		f.delay(time.Now().Add(ft.m.o.Backoff))
		return
	}
	if p.DivergingEpoch.Epoch >= 0 {
		// Only sent when we send LastFetchedEpoch (we do not), but if a
		// leader says our logs diverge, truncate before going on.
		f.setState(stateTruncate)
		return
	}
	records := p.RecordBatches
	whole := completeBatches(records)
	var leo int64
	removed, err := f.call(func(r Replica) error {
		if err := r.AppendReplica(whole, p.HighWatermark, p.LogStartOffset); err != nil {
			return err
		}
		leo = r.LogEndOffset()
		return nil
	})
	if removed {
		return
	}
	if err != nil {
		ft.localFailed(f, err)
		return
	}
	f.outOfRange = 0
	f.lag.Store(max(0, p.HighWatermark-leo))
	if len(whole) == 0 && len(records) > 0 {
		// Not even one whole batch fits: the leader should always send
		// the first batch whole (KIP-74), so this is a broken answer;
		// fetching again at once would spin.
		ft.problem(f, slog.LevelWarn, "fetch returned no whole batch", errors.New("replication: partial batch only"))
		f.delay(time.Now().Add(ft.m.o.Backoff))
		return
	}
	f.lastProblem = ""
}

// partitionError handles a partition error code from any of the RPCs.
// FENCED_LEADER_EPOCH means our epoch is old: the partition waits for
// Follow with a newer one. Everything else is retried after the backoff,
// as Kafka does: NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION and
// UNKNOWN_LEADER_EPOCH mostly mean the leader has not applied the metadata
// that made it leader yet, which will come without a new Follow here.
func (ft *fetcher) partitionError(f *follower, what string, err error) {
	switch {
	case errors.Is(err, kerr.FencedLeaderEpoch):
		f.setState(stateParked)
		ft.debug(f, what+": fenced, parked until a newer leader epoch", err)
		return
	case errors.Is(err, kerr.NotLeaderForPartition), errors.Is(err, kerr.UnknownTopicOrPartition),
		errors.Is(err, kerr.UnknownLeaderEpoch), errors.Is(err, kerr.LeaderNotAvailable),
		errors.Is(err, kerr.KafkaStorageError):
		ft.debug(f, what+": leader not ready, backing off", err)
	default:
		ft.problem(f, slog.LevelWarn, what+" failed", err)
	}
	f.delay(time.Now().Add(ft.m.o.Backoff))
}

func (ft *fetcher) debug(f *follower, msg string, err error) {
	ft.log.Debug("replication: "+msg, "partition", f.tp, "epoch", f.epoch, "err", err)
}

// problem logs at level the first time a partition has this problem, and
// at debug while it persists.
func (ft *fetcher) problem(f *follower, level slog.Level, msg string, err error) {
	key := msg + ": " + err.Error()
	if key == f.lastProblem {
		level = slog.LevelDebug
	}
	f.lastProblem = key
	ft.log.Log(ft.ctx, level, "replication: "+msg, "partition", f.tp, "epoch", f.epoch, "err", err)
}

// completeBatches returns the whole record batches at the start of b. A
// fetch response may end with a batch cut short by the size limit, which
// the follower must drop (it fetches it again from there). Each batch
// starts with int64 base offset and int32 length of the rest.
func completeBatches(b []byte) []byte {
	n := 0
	for len(b)-n >= 12 {
		size := int64(int32(binary.BigEndian.Uint32(b[n+8:])))
		if size <= 0 || size > int64(len(b)-n-12) {
			break
		}
		n += 12 + int(size)
	}
	return b[:n]
}
