package group

import (
	"context"
	"errors"
	"fmt"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
)

// Store gives the coordinator the partitions of __consumer_offsets.
type Store interface {
	// Partitions is the partition count of the offsets topic, 0 if it does
	// not exist.
	Partitions() int32
	// Create creates the offsets topic with n partitions unless it exists,
	// and returns its partition count.
	Create(n int32) (int32, error)
	// Log returns partition i of the offsets topic.
	Log(i int32) (Log, error)
}

// Log is one partition of the offsets topic as its coordinator sees it.
//
// Append is called with the shard's lock held, so that the log holds a
// shard's records in the order its state changes were decided: it may take
// the partition's own locks but must not wait for replication or an fsync.
// The wait for durability is Ack.Wait, which the coordinator calls with no
// lock held.
type Log interface {
	// Append appends one batch and returns its base offset and its
	// acknowledgement, without waiting for it. Errors wrap
	// ErrRecordTooLarge or ErrLogUnavailable; on error nothing was
	// appended.
	Append(batch []byte) (base int64, ack Ack, err error)
	// Read returns whole batches starting at or before offset from (at
	// least one if any is there), at most about maxBytes, appending them
	// to dst.
	Read(from int64, maxBytes int32, dst []byte) ([]byte, error)
	// StartOffset and EndOffset bound the log.
	StartOffset() int64
	EndOffset() int64
}

// Ack is the acknowledgement of one appended batch.
type Ack interface {
	// Wait returns nil once the batch is durable by the partition's
	// rules (acks=all: the ISR has it), or an error if it cannot become
	// so (leadership lost, storage failure: wrapping ErrLogUnavailable)
	// or ctx ends first (wrapping ctx.Err()). The coordinator calls it
	// once per append, from any goroutine, with ctx bounded by
	// offsets.commit.timeout.ms and cancelled when the shard unloads.
	Wait(ctx context.Context) error
}

// BrokerStore is the Store of a broker's own __consumer_offsets topic.
type BrokerStore struct{ B *broker.Broker }

// Partitions implements Store.
func (s BrokerStore) Partitions() int32 {
	t, ok := s.B.Topic(broker.OffsetsTopic)
	if !ok {
		return 0
	}
	return int32(len(s.B.Partitions(t)))
}

// Create implements Store.
func (s BrokerStore) Create(n int32) (int32, error) {
	t, err := s.B.EnsureOffsetsTopic(n)
	if err != nil {
		return 0, err
	}
	return int32(len(s.B.Partitions(t))), nil
}

// Log implements Store.
func (s BrokerStore) Log(i int32) (Log, error) {
	t, p, err := s.B.Partition(broker.OffsetsTopic, i)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLogUnavailable, err)
	}
	return brokerLog{t: t, p: p}, nil
}

type brokerLog struct {
	t *broker.Topic
	p *partition.Partition
}

func (l brokerLog) Append(batch []byte) (int64, Ack, error) {
	h, err := record.Validate(batch)
	if err != nil {
		return -1, nil, fmt.Errorf("group: encoded an invalid batch: %w", err) // a bug here, not the log's
	}
	// acks=all, so that a write survives a failover of the coordinator;
	// the acknowledgement (fsync, ISR) is waited for without the shard's
	// lock.
	ack, err := l.p.Produce(batch, &h, partition.AcksAll, l.t.AppendConfig())
	if err != nil {
		return -1, nil, logError(err)
	}
	return ack.Result.BaseOffset, brokerAck{ack}, nil
}

// brokerAck is the partition's acknowledgement in the Store's errors.
type brokerAck struct{ ack partition.Ack }

func (a brokerAck) Wait(ctx context.Context) error {
	if err := a.ack.Wait(ctx); err != nil {
		return logError(err)
	}
	return nil
}

// logError wraps a partition's error in the Store's.
func logError(err error) error {
	if errors.Is(err, partition.ErrMessageTooLarge) {
		return fmt.Errorf("%w: %w", ErrRecordTooLarge, err)
	}
	return fmt.Errorf("%w: %w", ErrLogUnavailable, err)
}

func (l brokerLog) Read(from int64, maxBytes int32, dst []byte) ([]byte, error) {
	// The coordinator is the partition leader: its whole log is what the
	// groups are (a new leader's high watermark may still lag behind what
	// the previous leader committed), so it reads up to the log end.
	dst, err := l.p.ReadLog(from, maxBytes, dst)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLogUnavailable, err)
	}
	return dst, nil
}

func (l brokerLog) StartOffset() int64 { return l.p.LogStartOffset() }
func (l brokerLog) EndOffset() int64   { return l.p.LogEndOffset() }
