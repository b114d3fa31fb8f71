// Package testutil holds what tests of several packages share. Only tests
// import it.
package testutil

import (
	"testing"
	"time"
)

// Eventually calls cond until it returns nil, failing t with cond's last
// error if that has not happened within timeout. It is for state another
// goroutine or process changes that a test cannot be told about directly;
// the pause between calls doubles from 1 ms to 100 ms.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	EventuallyEvery(t, timeout, 100*time.Millisecond, cond)
}

// EventuallyEvery is Eventually with the longest pause between calls given
// (a costly cond, such as a request to a broker process).
func EventuallyEvery(t testing.TB, timeout, maxPause time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPause)
	}
}
