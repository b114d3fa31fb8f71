package server

import (
	"errors"
	"sync"
	"time"
)

// errBudgetWait means a frame gave up waiting for the request budget: its
// request deadline passed or the server is shutting down.
var errBudgetWait = errors.New("server: gave up waiting for request memory (queued.max.request.bytes)")

// budget bounds the bytes of frame buffers held by all connections together
// (queued.max.request.bytes). A frame reserves its buffer's growth step by
// step, as bytes arrive. A step that does not fit waits, unless no frame is
// overdrawing: then this frame reserves everything it can still grow to and
// becomes the one overdrawing frame until it is released. Waiters hold only
// what they received, and the overdrawing frame never waits again, so some
// frame always progresses; the bytes reserved stay below limit plus one
// frame.
type budget struct {
	limit int64

	mu        sync.Mutex
	used      int64         // guarded by mu
	overdrawn bool          // guarded by mu: a frame holds the overdraft
	waiting   int           // guarded by mu: frames waiting, for tests and logs
	changed   chan struct{} // guarded by mu: closed and replaced at each release
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, changed: make(chan struct{})}
}

// reservation is what one frame holds of the budget.
type reservation struct {
	n         int64 // bytes reserved
	overdraft bool  // reserved its whole frame beyond the limit
}

// reserve grows r to want bytes, the most being final (what the frame can
// grow to). It waits while the budget is short, until deadline (zero: none)
// or until done is closed.
func (b *budget) reserve(r *reservation, want, final int64, deadline time.Time, done <-chan struct{}) error {
	if want <= r.n {
		return nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	b.mu.Lock()
	for {
		switch delta := want - r.n; {
		case b.used+delta <= b.limit:
			b.used += delta
			r.n = want
			b.mu.Unlock()
			return nil
		case !b.overdrawn:
			b.used += final - r.n
			r.n, r.overdraft, b.overdrawn = final, true, true
			b.mu.Unlock()
			return nil
		}
		changed := b.changed
		b.waiting++
		b.mu.Unlock()
		if timer == nil && !deadline.IsZero() {
			timer = time.NewTimer(time.Until(deadline))
		}
		var expired <-chan time.Time
		if timer != nil {
			expired = timer.C
		}
		var err error
		select {
		case <-changed:
		case <-expired:
			err = errBudgetWait
		case <-done:
			err = errBudgetWait
		}
		b.mu.Lock()
		b.waiting--
		if err != nil {
			b.mu.Unlock()
			return err
		}
	}
}

// release returns everything r holds and wakes the waiting frames.
func (b *budget) release(r *reservation) {
	if r.n == 0 && !r.overdraft {
		return
	}
	b.mu.Lock()
	b.used -= r.n
	if r.overdraft {
		b.overdrawn = false
	}
	if b.waiting > 0 { // no channel to replace on the common path
		close(b.changed)
		b.changed = make(chan struct{})
	}
	b.mu.Unlock()
	*r = reservation{}
}

// state reports the bytes reserved and the frames waiting.
func (b *budget) state() (used int64, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.waiting
}
