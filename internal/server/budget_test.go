package server

import (
	"errors"
	"testing"
	"time"
)

func TestServerBudgetReserveAndOverdraft(t *testing.T) {
	b := newBudget(100)
	var r1, r2, r3 reservation
	if err := b.reserve(&r1, 60, 200, time.Time{}, nil); err != nil || r1.n != 60 || r1.overdraft {
		t.Fatalf("fitting step: %+v %v", r1, err)
	}
	if err := b.reserve(&r1, 40, 200, time.Time{}, nil); err != nil || r1.n != 60 {
		t.Fatalf("a step below what is held: %+v %v", r1, err)
	}
	// Does not fit, nobody overdraws: r2 takes its whole frame.
	if err := b.reserve(&r2, 50, 150, time.Time{}, nil); err != nil || r2.n != 150 || !r2.overdraft {
		t.Fatalf("overdraft: %+v %v", r2, err)
	}
	if used, _ := b.state(); used != 210 {
		t.Fatalf("used %d", used)
	}
	// The overdrawing frame never waits again.
	if err := b.reserve(&r2, 150, 150, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	// A third frame waits: past its deadline it gives up, and so it does
	// when the server shuts down.
	if err := b.reserve(&r3, 10, 10, time.Now().Add(-time.Second), nil); !errors.Is(err, errBudgetWait) || r3.n != 0 {
		t.Fatalf("deadline: %+v %v", r3, err)
	}
	done := make(chan struct{})
	close(done)
	if err := b.reserve(&r3, 10, 10, time.Time{}, done); !errors.Is(err, errBudgetWait) {
		t.Fatalf("shutdown: %v", err)
	}
	if _, waiting := b.state(); waiting != 0 {
		t.Fatalf("%d still waiting", waiting)
	}

	// A waiter wakes when a release makes room.
	got := make(chan error, 1)
	go func() { got <- b.reserve(&r3, 30, 30, time.Time{}, nil) }()
	waitFor(t, "a frame waiting for the budget", func() bool { _, w := b.state(); return w == 1 })
	b.release(&r1) // 150 held by r2 alone: 30 more still do not fit, but the overdraft is taken
	waitFor(t, "the waiter to look again", func() bool { _, w := b.state(); return w == 1 })
	select {
	case err := <-got:
		t.Fatalf("reserved while the budget was short: %v", err)
	default:
	}
	b.release(&r2)
	if err := <-got; err != nil || r3.n != 30 {
		t.Fatalf("after release: %+v %v", r3, err)
	}
	b.release(&r3)
	if used, _ := b.state(); used != 0 {
		t.Fatalf("used %d after every release", used)
	}
}
