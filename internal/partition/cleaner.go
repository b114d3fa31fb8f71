package partition

import (
	"context"

	"github.com/gregor-dev/gregor/internal/storage"
)

// Clean runs one compaction pass over the partition's log (see
// storage.Log.Clean). The last batch of every producer known to the
// partition is kept even if compaction empties it, so that its sequence
// numbers survive a restart, as Kafka keeps them.
func (p *Partition) Clean(ctx context.Context, o storage.CleanOptions) (storage.CleanStats, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return storage.CleanStats{}, ErrClosed
	}
	o.ProducerLastOffsets = p.producers.lastOffsets()
	p.mu.Unlock()
	return p.log.Clean(ctx, o)
}

// Cleanable measures the partition's dirty section (see storage.Log.Cleanable).
func (p *Partition) Cleanable(minCompactionLagMs int64) (storage.Cleanable, error) {
	return p.log.Cleanable(minCompactionLagMs)
}

// lastOffsets maps each producer to the last offset of its newest batch.
func (ps producers) lastOffsets() map[int64]int64 {
	out := make(map[int64]int64, len(ps))
	for id, e := range ps {
		if len(e.Batches) == 0 {
			continue
		}
		b := e.Batches[len(e.Batches)-1]
		out[id] = b.FirstOffset + int64(sequenceSpan(b.FirstSeq, b.LastSeq))
	}
	return out
}

// sequenceSpan is last-first for sequence numbers that wrap past MaxInt32
// to 0: the inverse of record.IncSequence.
func sequenceSpan(first, last int32) int32 {
	if last >= first {
		return last - first
	}
	return last + (1<<31 - 1 - first) + 1
}
