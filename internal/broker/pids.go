package broker

// Producer ids come in blocks the controller reserves for this broker in the
// metadata log (AllocateProducerIds), as Kafka's RPCProducerIdManager: the
// broker holds a block and fetches the next one in the background when the
// current one is 90% used, so InitProducerId is served without a quorum
// round trip, and a broker cut off from the quorum keeps serving until its
// blocks run out. A block is never reused: after a restart the rest of the
// old one is abandoned.

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// producerIDWait bounds how long AllocateProducerID waits for a block when
// none is left, well inside clients' request timeouts.
const producerIDWait = 5 * time.Second

type idBlock struct{ next, end, size int64 }

type producerIDs struct {
	b *Broker

	mu       sync.Mutex
	cur      idBlock
	prefetch *idBlock      // fetched ahead, not yet in use
	fetching chan struct{} // closed when the fetch under way ends; nil if none
	lastErr  error
}

func (s *producerIDs) init(b *Broker) { s.b = b }

// AllocateProducerID hands out a producer id no broker of the cluster has
// handed out before.
func (b *Broker) AllocateProducerID(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, producerIDWait)
	defer cancel()
	s := &b.pids
	for {
		s.mu.Lock()
		if s.cur.next >= s.cur.end && s.prefetch != nil {
			s.cur, s.prefetch = *s.prefetch, nil
		}
		if s.cur.next < s.cur.end {
			id := s.cur.next
			s.cur.next++
			if s.prefetch == nil && s.fetching == nil && (s.cur.end-s.cur.next)*10 <= s.cur.size {
				s.startFetchLocked()
			}
			s.mu.Unlock()
			return id, nil
		}
		if s.fetching == nil {
			s.startFetchLocked()
		}
		wait, lastErr := s.fetching, s.lastErr
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = ctx.Err()
			}
			return -1, fmt.Errorf("%w: %w", ErrProducerIDsUnavailable, lastErr)
		}
	}
}

// PrefetchProducerIDs starts fetching a block if none is held, so that the
// first InitProducerId after start-up does not wait for one.
func (b *Broker) PrefetchProducerIDs() {
	s := &b.pids
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.next >= s.cur.end && s.prefetch == nil && s.fetching == nil {
		s.startFetchLocked()
	}
}

func (s *producerIDs) startFetchLocked() {
	done := make(chan struct{})
	s.fetching = done
	go func() {
		defer close(done)
		ctl, err := s.b.controller()
		var start int64
		var n int32
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), producerIDWait)
			start, n, err = ctl.AllocateProducerIDs(ctx)
			cancel()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetching = nil
		s.lastErr = err
		if err != nil {
			s.b.logger.Warn("could not fetch a block of producer ids", "err", err)
			return
		}
		blk := idBlock{start, start + int64(n), int64(n)}
		if s.cur.next >= s.cur.end {
			s.cur = blk
		} else {
			s.prefetch = &blk
		}
	}()
}
