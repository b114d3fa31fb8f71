package group

import "time"

// Clock is the coordinator's source of time. Deadlines (session and
// rebalance timeouts, retention) are computed from it and checked by Tick,
// so tests substitute a manual clock and need no sleeps.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
