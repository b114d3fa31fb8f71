package cluster

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// quietWriter passes Raft's log lines to w, dropping a line whose message
// (the text before its first key=value pair) was written less than every
// ago: a dead peer makes hashicorp/raft log the same error several times a
// second for as long as it is down.
type quietWriter struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

func newQuietWriter(w io.Writer, every time.Duration, now func() time.Time) *quietWriter {
	return &quietWriter{w: w, every: every, now: now, last: map[string]time.Time{}}
}

func (q *quietWriter) Write(p []byte) (int, error) {
	key := p
	if i := bytes.IndexByte(key, ']'); i >= 0 { // after the timestamp and level
		key = key[i+1:]
	}
	if i := bytes.IndexByte(key, '='); i >= 0 {
		key = key[:i]
	}
	now := q.now()
	q.mu.Lock()
	last, seen := q.last[string(key)]
	drop := seen && now.Sub(last) < q.every
	if !drop {
		q.last[string(key)] = now
		if len(q.last) > 1000 { // bounded: forget everything now and then
			q.last = map[string]time.Time{string(key): now}
		}
	}
	q.mu.Unlock()
	if drop {
		return len(p), nil
	}
	return q.w.Write(p)
}
