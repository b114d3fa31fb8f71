package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/testutil"
	"github.com/gregor-dev/gregor/internal/wire"
	"github.com/gregor-dev/gregor/internal/wire/wiretest"
)

// makeBatch encodes n records as a RecordBatch at base with leader epoch
// epoch (neither field is covered by the CRC).
func makeBatch(base int64, epoch int32, n int) []byte {
	raw := recordtest.Simple(n, 1000+base).Encode()
	binary.BigEndian.PutUint64(raw, uint64(base))
	binary.BigEndian.PutUint32(raw[12:], uint32(epoch))
	return raw
}

type memBatch struct {
	base, last int64
	epoch      int32
	raw        []byte
}

func parseBatch(raw []byte) (memBatch, error) {
	if len(raw) < 61 {
		return memBatch{}, fmt.Errorf("batch of %d bytes", len(raw))
	}
	if size := int(binary.BigEndian.Uint32(raw[8:])) + 12; size != len(raw) {
		return memBatch{}, fmt.Errorf("batch length %d, have %d bytes", size, len(raw))
	}
	base := int64(binary.BigEndian.Uint64(raw))
	return memBatch{
		base:  base,
		last:  base + int64(binary.BigEndian.Uint32(raw[23:])),
		epoch: int32(binary.BigEndian.Uint32(raw[12:])),
		raw:   raw,
	}, nil
}

// memLog is an in-memory log of batches with Kafka's epoch lookups.
type memLog struct {
	mu      sync.Mutex
	start   int64
	batches []memBatch
	hw      int64
}

func (l *memLog) leoLocked() int64 {
	if len(l.batches) == 0 {
		return l.start
	}
	return l.batches[len(l.batches)-1].last + 1
}

func (l *memLog) LogEndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leoLocked()
}

func (l *memLog) LogStartOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.start
}

// add appends a batch of n records in epoch at the log end.
func (l *memLog) add(epoch int32, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, _ := parseBatch(makeBatch(l.leoLocked(), epoch, n))
	l.batches = append(l.batches, b)
}

func (l *memLog) appendRaw(raw []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(raw) > 0 {
		if len(raw) < 12 {
			return fmt.Errorf("trailing %d bytes", len(raw))
		}
		size := int(binary.BigEndian.Uint32(raw[8:])) + 12
		if size > len(raw) {
			return fmt.Errorf("partial batch: %d of %d bytes", len(raw), size)
		}
		b, err := parseBatch(raw[:size:size])
		if err != nil {
			return err
		}
		if leo := l.leoLocked(); b.base != leo {
			return fmt.Errorf("batch at %d, log end %d", b.base, leo)
		}
		b.raw = bytes.Clone(b.raw)
		l.batches = append(l.batches, b)
		raw = raw[size:]
	}
	return nil
}

type epochStart struct {
	epoch int32
	start int64
}

func (l *memLog) epochsLocked() []epochStart {
	var out []epochStart
	for _, b := range l.batches {
		if len(out) == 0 || out[len(out)-1].epoch != b.epoch {
			out = append(out, epochStart{b.epoch, b.base})
		}
	}
	return out
}

func (l *memLog) LatestEpoch() (int32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.batches) == 0 {
		return -1, false
	}
	return l.batches[len(l.batches)-1].epoch, true
}

// EndOffsetForEpoch follows Kafka's LeaderEpochFileCache.endOffsetFor.
func (l *memLog) EndOffsetForEpoch(requested int32) (int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.epochsLocked()
	if requested < 0 || len(e) == 0 {
		return -1, -1
	}
	if e[len(e)-1].epoch == requested {
		return requested, l.leoLocked()
	}
	hi := 0
	for hi < len(e) && e[hi].epoch <= requested {
		hi++
	}
	switch {
	case hi == len(e):
		return -1, -1
	case hi == 0:
		return requested, e[0].start
	default:
		return e[hi-1].epoch, e[hi].start
	}
}

func (l *memLog) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if offset < l.start {
		return fmt.Errorf("truncate to %d below start %d", offset, l.start)
	}
	i := 0
	for i < len(l.batches) && l.batches[i].last < offset {
		i++
	}
	l.batches = l.batches[:i]
	l.hw = min(l.hw, l.leoLocked())
	return nil
}

func (l *memLog) TruncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches, l.start, l.hw = nil, offset, offset
	return nil
}

// read returns whole batches from offset, at most maxBytes but at least
// one, plus the batch after them when partial is set, cut in half.
func (l *memLog) read(offset int64, maxBytes int32, partial bool) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	i := 0
	for i < len(l.batches) && l.batches[i].last < offset {
		i++
	}
	for ; i < len(l.batches); i++ {
		raw := l.batches[i].raw
		if len(out) > 0 && len(out)+len(raw) > int(maxBytes) {
			break
		}
		out = append(out, raw...)
	}
	if partial && i < len(l.batches) {
		raw := l.batches[i].raw
		out = append(out, raw[:len(raw)/2]...)
	}
	return out
}

func (l *memLog) highWatermark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hw
}

func (l *memLog) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches {
		out = append(out, b.raw...)
	}
	return out
}

// fakeReplica is a follower's log that checks the Replica contract: no
// concurrent calls, none after Stop, and only whole batches appended.
type fakeReplica struct {
	memLog
	t       *testing.T
	active  atomic.Int32
	stopped atomic.Bool
	appends atomic.Int64
}

func newReplica(t *testing.T) *fakeReplica { return &fakeReplica{t: t} }

func (r *fakeReplica) enter() func() {
	if r.stopped.Load() {
		r.t.Error("replica called after Stop")
	}
	if r.active.Add(1) != 1 {
		r.t.Error("concurrent replica calls")
	}
	return func() { r.active.Add(-1) }
}

func (r *fakeReplica) LogEndOffset() int64 {
	defer r.enter()()
	return r.memLog.LogEndOffset()
}

func (r *fakeReplica) LogStartOffset() int64 {
	defer r.enter()()
	return r.memLog.LogStartOffset()
}

func (r *fakeReplica) LatestEpoch() (int32, bool) {
	defer r.enter()()
	return r.memLog.LatestEpoch()
}

func (r *fakeReplica) EndOffsetForEpoch(e int32) (int32, int64) {
	defer r.enter()()
	return r.memLog.EndOffsetForEpoch(e)
}

func (r *fakeReplica) AppendReplica(batches []byte, hw, logStart int64) error {
	defer r.enter()()
	r.appends.Add(1)
	if err := r.appendRaw(batches); err != nil {
		r.t.Errorf("AppendReplica: %v", err)
		return err
	}
	r.mu.Lock()
	r.hw = min(hw, r.leoLocked())
	r.mu.Unlock()
	return nil
}

func (r *fakeReplica) TruncateTo(o int64) error {
	defer r.enter()()
	return r.memLog.TruncateTo(o)
}

func (r *fakeReplica) TruncateFullyAndStartAt(o int64) error {
	defer r.enter()()
	return r.memLog.TruncateFullyAndStartAt(o)
}

// fakeLeader serves Fetch, OffsetForLeaderEpoch and ListOffsets for its
// partitions over wiretest.
type fakeLeader struct {
	srv *wiretest.Server

	mu      sync.Mutex
	parts   map[tp]*leaderPart
	changed chan struct{} // closed and replaced on every change
	partial bool          // add half a batch after the whole ones
	fetches int
	polling int // fetches waiting for data
	lastReq *kmsg.FetchRequest
}

type leaderPart struct {
	log   *memLog
	epoch int32
}

func newLeader(t *testing.T) *fakeLeader {
	l := &fakeLeader{parts: map[tp]*leaderPart{}, changed: make(chan struct{})}
	srv, err := wiretest.NewServer(l.handle)
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	t.Cleanup(srv.Close)
	return l
}

// part returns the partition's log, creating it in epoch.
func (l *fakeLeader) part(topic string, index, epoch int32) *memLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := tp{topic, index}
	if p := l.parts[k]; p != nil {
		return p.log
	}
	p := &leaderPart{log: new(memLog), epoch: epoch}
	l.parts[k] = p
	return p.log
}

func (l *fakeLeader) setEpoch(topic string, index, epoch int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.parts[tp{topic, index}].epoch = epoch
	l.notifyLocked()
}

// produce appends n records to the partition in its current epoch.
func (l *fakeLeader) produce(topic string, index int32, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.parts[tp{topic, index}]
	p.log.add(p.epoch, n)
	l.notifyLocked()
}

func (l *fakeLeader) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *fakeLeader) pollers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.polling
}

// checkLocked answers the partition and its fencing error.
func (l *fakeLeader) checkLocked(topic string, index, current int32) (*leaderPart, int16) {
	p := l.parts[tp{topic, index}]
	switch {
	case p == nil:
		return nil, kerr.UnknownTopicOrPartition.Code
	case current < p.epoch:
		return nil, kerr.FencedLeaderEpoch.Code
	case current > p.epoch:
		return nil, kerr.UnknownLeaderEpoch.Code
	}
	return p, 0
}

func (l *fakeLeader) handle(ctx context.Context, req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.FetchRequest:
		return l.fetch(ctx, r)
	case *kmsg.OffsetForLeaderEpochRequest:
		l.mu.Lock()
		defer l.mu.Unlock()
		resp := wiretest.Answer(r).(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, q := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition = q.Partition
				rp.LeaderEpoch, rp.EndOffset = -1, -1
				p, code := l.checkLocked(t.Topic, q.Partition, q.CurrentLeaderEpoch)
				rp.ErrorCode = code
				if p != nil {
					if q.LeaderEpoch == p.epoch {
						rp.LeaderEpoch, rp.EndOffset = p.epoch, p.log.LogEndOffset()
					} else {
						rp.LeaderEpoch, rp.EndOffset = p.log.EndOffsetForEpoch(q.LeaderEpoch)
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		l.mu.Lock()
		defer l.mu.Unlock()
		resp := wiretest.Answer(r).(*kmsg.ListOffsetsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, q := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition = q.Partition
				p, code := l.checkLocked(t.Topic, q.Partition, q.CurrentLeaderEpoch)
				rp.ErrorCode = code
				if p != nil {
					rp.Offset = p.log.LogEndOffset()
					if q.Timestamp == -2 {
						rp.Offset = p.log.LogStartOffset()
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	return nil
}

func (l *fakeLeader) fetch(ctx context.Context, r *kmsg.FetchRequest) kmsg.Response {
	deadline := time.NewTimer(time.Duration(r.MaxWaitMillis) * time.Millisecond)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		l.fetches++
		l.lastReq = r
		resp := wiretest.Answer(r).(*kmsg.FetchResponse)
		size, errs := 0, 0
		for _, t := range r.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = t.Topic
			for _, q := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = q.Partition
				p, code := l.checkLocked(t.Topic, q.Partition, q.CurrentLeaderEpoch)
				if p != nil && (q.FetchOffset < p.log.LogStartOffset() || q.FetchOffset > p.log.LogEndOffset()) {
					code = kerr.OffsetOutOfRange.Code
				}
				rp.ErrorCode = code
				if code != 0 {
					errs++
				} else {
					rp.HighWatermark = p.log.LogEndOffset()
					rp.LastStableOffset = rp.HighWatermark
					rp.LogStartOffset = p.log.LogStartOffset()
					rp.RecordBatches = p.log.read(q.FetchOffset, q.PartitionMaxBytes, l.partial)
					size += len(rp.RecordBatches)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		changed := l.changed
		done := errs > 0 || size >= int(r.MinBytes)
		if !done {
			l.polling++
		}
		l.mu.Unlock()
		if done {
			return resp
		}
		var timedOut bool
		select {
		case <-changed:
		case <-deadline.C:
			timedOut = true
		case <-ctx.Done():
			return nil
		}
		l.mu.Lock()
		l.polling--
		l.mu.Unlock()
		if timedOut {
			return resp
		}
	}
}

// brokers maps broker ids to fake leaders for a Pool.
type brokers struct {
	mu sync.Mutex
	m  map[int32]*fakeLeader
}

func (b *brokers) set(id int32, l *fakeLeader) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[id] = l
}

func (b *brokers) resolve(id int32) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.m[id]
	if !ok {
		return "", false
	}
	return l.srv.Addr(), true
}

func newPool(t *testing.T, b *brokers) *wire.Pool {
	p := wire.NewPool("follower", b.resolve)
	t.Cleanup(func() { p.Close() })
	return p
}

func checkFor(t *testing.T, wait time.Duration, fn func() error) {
	t.Helper()
	testutil.Eventually(t, wait, fn)
}

// sameLog waits until the follower's log is byte for byte the leader's.
func sameLog(t *testing.T, leader *memLog, follower *fakeReplica) {
	t.Helper()
	checkFor(t, 5*time.Second, func() error {
		lb, fb := leader.bytes(), follower.memLog.bytes()
		ls, fs := leader.LogStartOffset(), follower.memLog.LogStartOffset()
		if !bytes.Equal(lb, fb) || ls != fs {
			return fmt.Errorf("follower [%d, %d) (%d bytes), leader [%d, %d) (%d bytes)",
				fs, follower.memLog.LogEndOffset(), len(fb), ls, leader.LogEndOffset(), len(lb))
		}
		return nil
	})
}
