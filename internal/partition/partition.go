// Package partition owns the state of one topic partition on this broker: its
// log, the idempotent producer state, the leader epoch, the replica state
// (role, ISR, followers' log end offsets, high watermark, acks=all waiters)
// and the waiters of long-polling fetches.
//
// A partition has no role after Open: it neither leads nor follows until
// the committed metadata makes it the leader (BecomeLeader) or a follower
// (BecomeFollower), with Kafka's replicated semantics (replica.go), also on
// a single broker (a one-replica partition whose ISR is itself). Produce
// (produce.go) is the only way records get in as the leader.
//
// Lock order: Partition.mu (appends, producer state, role changes), then
// Partition.rmu (replica state), then the storage log's own lock. Reads take
// neither Partition.mu nor block appends.
package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/storage"
)

// Errors mapped to Kafka error codes at the handler boundary.
var (
	ErrOutOfOrderSequence   = errors.New("partition: out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("partition: invalid producer epoch")
	ErrMessageTooLarge      = errors.New("partition: batch larger than max.message.bytes")
	ErrInvalidTimestamp     = errors.New("partition: timestamp out of the accepted range")
	ErrClosed               = errors.New("partition: closed")

	ErrNotLeader                    = errors.New("partition: this broker is not the leader")
	ErrNotFollower                  = errors.New("partition: this broker is not a follower")
	ErrFencedLeaderEpoch            = errors.New("partition: request's leader epoch is older than the current one")
	ErrUnknownLeaderEpoch           = errors.New("partition: request's leader epoch is newer than the current one")
	ErrNotEnoughReplicas            = errors.New("partition: fewer in-sync replicas than min.insync.replicas")
	ErrNotEnoughReplicasAfterAppend = errors.New("partition: appended, but the in-sync replicas shrank below min.insync.replicas")
)

// Errors of the log, as the partition's callers see them.
var (
	ErrOffsetOutOfRange = storage.ErrOffsetOutOfRange
	ErrStorage          = storage.ErrStorage // a failed write or fsync (sticky)
	ErrTruncated        = storage.ErrTruncated
	ErrLogClosed        = storage.ErrClosed
)

// AppendConfig is the part of the topic configuration an append needs.
type AppendConfig struct {
	MaxMessageBytes      int64
	LogAppendTime        bool
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	MinInsyncReplicas    int32 // acks=-1 needs this many in-sync replicas
	// Recompress stores batches in Compression whatever codec the producer
	// used (compression.type other than producer).
	Recompress  bool
	Compression record.Codec
	// RequireKeys refuses records without a key (cleanup.policy with
	// compact), as Kafka does: compaction could never remove them.
	RequireKeys bool
}

// AppendResult is what a produce response reports for a partition.
type AppendResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
}

// Partition is one partition's state. It is safe for concurrent use.
type Partition struct {
	Topic string
	Index int32

	dir    string
	fs     storage.FS
	log    *storage.Log
	now    func() time.Time
	logger *slog.Logger
	nodeID int32

	mu             sync.Mutex // serializes appends and role changes; guards producers and closed
	producers      producers
	snapshotOffset int64 // log end offset at the last snapshot
	hwCheckpoint   int64 // high watermark in the checkpoint file, -1 if none
	closed         bool

	// Written with both mu and rmu held; read lock-free.
	leaderEpoch atomic.Int32
	role        atomic.Int32  // roleNone, roleLeader or roleFollower
	leadership  atomic.Uint64 // bumped at every leadership change: see Ack
	hwIsLEO     atomic.Bool   // a leader whose maximal ISR is itself
	hw          atomic.Int64  // the high watermark while !hwIsLEO

	rmu sync.Mutex // guards rs
	rs  replicaState

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced after every append
}

// Options configure Open.
type Options struct {
	FS      storage.FS
	Dir     string
	Storage storage.Options
	Now     func() time.Time
	Logger  *slog.Logger
	NodeID  int32 // this broker's id
	// OnFlush is told the duration of each fsync of the log (metrics).
	OnFlush func(time.Duration)
}

// Open opens (recovering if needed) the partition's log and rebuilds its
// producer state from the last snapshot plus the batches after it.
func Open(topic string, index int32, o Options) (*Partition, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Storage.Now = o.Now
	o.Storage.Logger = o.Logger
	o.Storage.OnFlush = o.OnFlush
	l, err := storage.Open(o.FS, o.Dir, o.Storage)
	if err != nil {
		return nil, fmt.Errorf("partition %s-%d: %w", topic, index, err)
	}
	p := &Partition{
		Topic: topic, Index: index,
		dir: o.Dir, fs: o.FS, log: l, now: o.Now, logger: o.Logger, nodeID: o.NodeID,
		notify: make(chan struct{}),
	}
	// The leader epoch comes from the metadata (BecomeLeader,
	// BecomeFollower), not from the log: an epoch field is outside the
	// batch CRC, and a damaged one must not fence every role change.
	p.leaderEpoch.Store(-1)
	p.initReplicaState()
	p.loadHighWatermark()
	if err := p.loadProducers(); err != nil {
		l.Close()
		return nil, fmt.Errorf("partition %s-%d: %w", topic, index, err)
	}
	return p, nil
}

// loadProducers restores producer state: the snapshot if it is usable, then
// every batch header from the snapshot's offset to the log end.
func (p *Partition) loadProducers() error {
	from, ps, err := readSnapshot(p.fs, p.dir)
	if err != nil {
		p.logger.Warn("producer state snapshot unreadable; rebuilding from the log", "partition", p.name(), "err", err)
		from, ps = 0, producers{}
	}
	if from > p.log.EndOffset() {
		from, ps = 0, producers{}
	}
	if start := p.log.StartOffset(); from < start {
		from = start
	}
	p.producers = ps
	return p.scanHeaders(from, func(h *record.Header) {
		if h.Idempotent() {
			p.producers.update(h)
		}
	})
}

// scanHeaders calls fn for each batch header from offset from to the log end.
func (p *Partition) scanHeaders(from int64, fn func(h *record.Header)) error {
	var buf []byte
	end := p.log.EndOffset()
	for from < end {
		res, err := p.log.Read(from, 1<<20, end, true)
		if err != nil {
			return err
		}
		if res.Slice.Size == 0 {
			return nil
		}
		buf, err = res.Slice.ReadInto(buf[:0])
		if err != nil {
			return err
		}
		for rest := buf; len(rest) > 0; {
			h, _, r, err := record.Next(rest)
			if err != nil {
				return err
			}
			rest = r
			if h.LastOffset() >= from {
				fn(&h)
			}
			from = h.NextOffset()
		}
	}
	return nil
}

func (p *Partition) name() string { return fmt.Sprintf("%s-%d", p.Topic, p.Index) }

// checkTimestamps applies message.timestamp.before/after.max.ms to the
// batch's first and max timestamps.
func checkTimestamps(h *record.Header, now int64, cfg *AppendConfig) error {
	for _, ts := range [2]int64{h.BaseTimestamp, h.MaxTimestamp} {
		if ts < 0 {
			continue
		}
		if now-ts > cfg.TimestampBeforeMaxMs || ts-now > cfg.TimestampAfterMaxMs {
			return fmt.Errorf("%w: timestamp %d, broker time %d", ErrInvalidTimestamp, ts, now)
		}
	}
	return nil
}

// wake releases every fetch waiting on this partition.
func (p *Partition) wake() {
	p.notifyMu.Lock()
	close(p.notify)
	p.notify = make(chan struct{})
	p.notifyMu.Unlock()
}

// Changed returns a channel closed at the next append, truncation, high
// watermark advance or role change.
func (p *Partition) Changed() <-chan struct{} {
	p.notifyMu.Lock()
	defer p.notifyMu.Unlock()
	return p.notify
}

// Records are whole record batches as the log stores them, not read yet:
// they write themselves to a connection (sendfile from the segment file) or
// are read into memory. The zero value is no records.
type Records struct{ s storage.Slice }

// Len is their size in bytes.
func (r Records) Len() int64 { return r.s.Size }

// WriteTo writes them to a connection (zero-copy when it can).
func (r Records) WriteTo(nc net.Conn) error { return r.s.WriteTo(nc) }

// AppendTo reads them, appending to dst.
func (r Records) AppendTo(dst []byte) ([]byte, error) { return r.s.ReadInto(dst) }

// FetchResult is one partition's answer to a fetch.
type FetchResult struct {
	Records        Records
	HighWatermark  int64
	LogStartOffset int64
}

// Fetch locates whole batches from offset, at most maxBytes (at least one
// batch when minOne), below the high watermark. It is a consumer's read:
// only the leader answers.
func (p *Partition) Fetch(offset int64, maxBytes int32, minOne bool) (FetchResult, error) {
	if p.role.Load() != roleLeader {
		return FetchResult{HighWatermark: -1, LogStartOffset: -1}, ErrNotLeader
	}
	hw := p.HighWatermark()
	res := FetchResult{HighWatermark: hw, LogStartOffset: p.log.StartOffset()}
	rr, err := p.log.Read(offset, maxBytes, hw, minOne)
	res.Records = Records{rr.Slice}
	return res, err
}

// HighWatermark is the offset below which records are committed. While the
// partition's (maximal) ISR is this broker alone, it is the log end offset.
func (p *Partition) HighWatermark() int64 {
	if p.hwIsLEO.Load() {
		return p.log.EndOffset()
	}
	return p.hw.Load()
}

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.StartOffset() }

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.leaderEpoch.Load() }

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader-epoch
// cache (Kafka's semantics, -1/-1 when unknown): the latest cached epoch ends
// at the log end, older ones where the next began. A leader has its epoch in
// the cache since BecomeLeader.
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return p.log.EndOffsetForEpoch(epoch)
}

// Size is the log's size in bytes.
func (p *Partition) Size() int64 { return p.log.Size() }

// FirstDirtyOffset is where the log cleaner's next pass starts.
func (p *Partition) FirstDirtyOffset() int64 { return p.log.FirstDirtyOffset() }

// OffsetAt is the answer to a ListOffsets lookup by time.
type OffsetAt struct {
	Offset      int64
	Timestamp   int64
	LeaderEpoch int32
}

// OffsetForTimestamp finds the first record below the high watermark with a
// timestamp at or after ts (ListOffsets with a time); found is false when
// there is none. ts -3 (KIP-734) finds the record with the largest
// timestamp instead.
func (p *Partition) OffsetForTimestamp(ts int64) (at OffsetAt, found bool, err error) {
	var (
		batch []byte
		ok    bool
	)
	if ts == -3 {
		batch, ok, err = p.log.MaxTimestampBatch()
	} else {
		batch, ok, err = p.log.FindTimestamp(ts)
	}
	if err != nil || !ok {
		return at, false, err
	}
	hdr, err := record.ReadHeader(batch)
	if err != nil {
		return at, false, err
	}
	target := ts
	if ts == -3 {
		target = hdr.MaxTimestamp
	}
	off, rts, found, err := record.FindTimestamp(batch, target)
	if err != nil || !found || off >= p.HighWatermark() {
		return at, false, err
	}
	return OffsetAt{Offset: off, Timestamp: rts, LeaderEpoch: hdr.PartitionLeaderEpoch}, true, nil
}

// ReadLog appends to dst whole batches from offset from (at least one if
// there is one, at most about maxBytes), up to the log end rather than the
// high watermark: for an internal topic's coordinator, which is the leader
// and whose state is its whole log (a new leader's HW may lag behind what
// the previous leader committed).
func (p *Partition) ReadLog(from int64, maxBytes int32, dst []byte) ([]byte, error) {
	rr, err := p.log.Read(from, maxBytes, p.log.EndOffset(), true)
	if err == nil && rr.Slice.Size > 0 {
		dst, err = rr.Slice.ReadInto(dst)
	}
	return dst, err
}

// DeleteRecords raises the log start offset to offset (-1: the high
// watermark) and returns the new start offset.
func (p *Partition) DeleteRecords(offset int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role.Load() != roleLeader {
		return -1, ErrNotLeader
	}
	hw := p.HighWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("%w: %d not in [0, %d]", storage.ErrOffsetOutOfRange, offset, hw)
	}
	if offset > p.log.StartOffset() {
		if err := p.log.SetStartOffset(offset); err != nil {
			return -1, err
		}
	}
	return p.log.StartOffset(), nil
}

// Retain applies retention.ms and retention.bytes (-1: unlimited) to the
// log, moving the log start offset past the deleted segments. Only segments
// below the high watermark go (followers' too: theirs is the leader's,
// lagging), so no uncommitted record is deleted before it is replicated.
func (p *Partition) Retain(retentionMs, retentionBytes int64) (int, error) {
	return p.log.RetainBelow(retentionMs, retentionBytes, p.HighWatermark())
}

// SetStorageOptions applies a live topic configuration change.
func (p *Partition) SetStorageOptions(o storage.Options) {
	o.Now, o.Logger = p.now, p.logger
	p.log.SetOptions(o)
}

// MaybeFlush applies the time-based flush policy (flush.ms); the broker
// calls it periodically.
func (p *Partition) MaybeFlush() error { return p.log.MaybeFlush() }

// ExpireProducers forgets the idempotent producers whose last batch is
// older than producer.id.expiration.ms (their next batch is then accepted
// at any sequence, as for a producer never seen), and returns how many.
func (p *Partition) ExpireProducers(expirationMs int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.producers.expire(p.now().UnixMilli(), expirationMs)
	if n > 0 {
		p.snapshotOffset = -1 // the next checkpoint writes the smaller state
	}
	return n
}

// Checkpoint writes the producer-state snapshot if the log grew since the
// last one, so that recovery after a crash rescans only recent batches, and
// the high-watermark checkpoint if it moved.
func (p *Partition) Checkpoint() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if err := p.checkpointHighWatermarkLocked(); err != nil {
		return err
	}
	end := p.log.EndOffset()
	if end == p.snapshotOffset {
		return nil
	}
	if err := writeSnapshot(p.fs, p.dir, end, p.producers); err != nil {
		return err
	}
	p.snapshotOffset = end
	return nil
}

// hwCheckpointFile holds the partition's high watermark in the layout of
// storage's one-offset checkpoints ("0\n<offset>\n"). It lives in the
// partition directory, next to the log it describes, so that it moves and
// goes away with it and no broker-wide file couples partitions' writes.
const hwCheckpointFile = "high-watermark-checkpoint"

func (p *Partition) loadHighWatermark() {
	hw, ok, err := storage.ReadOffsetCheckpoint(p.fs, filepath.Join(p.dir, hwCheckpointFile))
	if err != nil {
		// Only a lower bound is lost: the leader recomputes it from
		// its followers, a follower learns it from the leader.
		p.logger.Warn("high watermark checkpoint unreadable; starting from the log start", "partition", p.name(), "err", err)
		hw, ok = 0, false
	}
	p.hwCheckpoint = -1
	if ok {
		p.hwCheckpoint = hw
	}
	p.hw.Store(min(max(hw, p.log.StartOffset()), p.log.EndOffset()))
}

// checkpointHighWatermarkLocked writes the HW if it moved. A partition
// without a role yet writes none: it has not learnt its HW, and writing
// what it holds could overwrite the HW it had (and may still need).
func (p *Partition) checkpointHighWatermarkLocked() error {
	if p.role.Load() == roleNone {
		return nil
	}
	hw := p.HighWatermark()
	if hw == p.hwCheckpoint || p.log.Err() != nil {
		return nil
	}
	if err := storage.WriteOffsetCheckpoint(p.fs, filepath.Join(p.dir, hwCheckpointFile), hw); err != nil {
		return err
	}
	p.hwCheckpoint = hw
	return nil
}

// Close snapshots producer state, flushes and closes the log.
func (p *Partition) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	var errs []error
	if p.log.Err() == nil {
		errs = append(errs, p.checkpointHighWatermarkLocked())
		errs = append(errs, writeSnapshot(p.fs, p.dir, p.log.EndOffset(), p.producers))
	}
	p.closed = true
	errs = append(errs, p.log.Close())
	p.closeReplicaState()
	p.wake()
	return errors.Join(errs...)
}

// Delete closes the partition and removes its directory.
func (p *Partition) Delete() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.closeReplicaState()
	p.wake()
	return p.log.Delete()
}
