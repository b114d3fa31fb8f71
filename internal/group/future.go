package group

import (
	"context"
	"sync"
)

// Future is the eventual answer to a request that waits for other members
// (JoinGroup, SyncGroup). It is completed once, under the shard lock; the
// requester waits on it with no lock held.
type Future[T any] struct {
	once sync.Once
	done chan struct{}
	v    T
}

func newFuture[T any]() *Future[T] { return &Future[T]{done: make(chan struct{})} }

func completedFuture[T any](v T) *Future[T] {
	f := newFuture[T]()
	f.complete(v)
	return f
}

// complete sets the answer; later calls are ignored. It reports whether this
// call set it.
func (f *Future[T]) complete(v T) bool {
	set := false
	f.once.Do(func() {
		f.v = v
		close(f.done)
		set = true
	})
	return set
}

// Done is closed when the answer is known.
func (f *Future[T]) Done() <-chan struct{} { return f.done }

// Result returns the answer and true if it is known, without waiting.
func (f *Future[T]) Result() (T, bool) {
	select {
	case <-f.done:
		return f.v, true
	default:
		var zero T
		return zero, false
	}
}

// Wait blocks until the answer is known or ctx ends.
func (f *Future[T]) Wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.v, nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
