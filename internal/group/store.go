package group

import (
	"context"
	"errors"
	"fmt"
	"time"

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
type Log interface {
	// Append appends one batch and returns its base offset. Errors wrap
	// ErrRecordTooLarge or ErrLogUnavailable.
	Append(batch []byte) (int64, error)
	// Read returns whole batches starting at or before offset from (at
	// least one if any is there), at most about maxBytes, appending them
	// to dst.
	Read(from int64, maxBytes int32, dst []byte) ([]byte, error)
	// StartOffset and EndOffset bound the log.
	StartOffset() int64
	EndOffset() int64
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

func (l brokerLog) Append(batch []byte) (int64, error) {
	h, err := record.Validate(batch)
	if err != nil {
		return -1, fmt.Errorf("group: encoded an invalid batch: %w", err) // a bug here, not the log's
	}
	// Acknowledged only once the ISR has it (acks=all), so that a commit
	// survives a failover of the coordinator.
	ack, err := l.p.Produce(batch, &h, partition.AcksAll, l.t.AppendConfig())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		err = ack.Wait(ctx)
		cancel()
	}
	switch {
	case err == nil:
		return ack.Result.BaseOffset, nil
	case errors.Is(err, partition.ErrMessageTooLarge):
		return -1, fmt.Errorf("%w: %w", ErrRecordTooLarge, err)
	default:
		return -1, fmt.Errorf("%w: %w", ErrLogUnavailable, err)
	}
}

func (l brokerLog) Read(from int64, maxBytes int32, dst []byte) ([]byte, error) {
	// The coordinator is the partition leader: its whole log is what the
	// groups are (a new leader's high watermark may still lag behind what
	// the previous leader committed), so it reads up to the log end.
	rr, err := l.p.Log().Read(from, maxBytes, l.p.LogEndOffset(), true)
	if err == nil && rr.Slice.Size > 0 {
		dst, err = rr.Slice.ReadInto(dst)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLogUnavailable, err)
	}
	return dst, nil
}

// commitTimeout bounds the wait for the ISR under a group write, as
// offsets.commit.timeout.ms does in Kafka (default 5 s).
const commitTimeout = 5 * time.Second

func (l brokerLog) StartOffset() int64 { return l.p.LogStartOffset() }
func (l brokerLog) EndOffset() int64   { return l.p.LogEndOffset() }
