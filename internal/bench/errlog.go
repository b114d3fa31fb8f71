package bench

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// errorLog counts errors and logs the first occurrence of each distinct
// message, so a broker failing every record neither floods the terminal
// nor goes unnoticed.
type errorLog struct {
	what   string // "produce" or "fetch"
	logger *slog.Logger
	total  atomic.Int64

	mu   sync.Mutex
	seen map[string]int64 // message → occurrences
}

func newErrorLog(what string, logger *slog.Logger) *errorLog {
	return &errorLog{what: what, logger: logger, seen: make(map[string]int64)}
}

func (e *errorLog) add(err error) {
	e.total.Add(1)
	msg := err.Error()
	e.mu.Lock()
	n := e.seen[msg]
	e.seen[msg] = n + 1
	e.mu.Unlock()
	if n == 0 {
		e.logger.Warn("bench: "+e.what+" error (logged once; every occurrence is counted)", "err", err)
	}
}

func (e *errorLog) count() int64 { return e.total.Load() }

// kinds returns each distinct message with its count, nil when none.
func (e *errorLog) kinds() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.seen) == 0 {
		return nil
	}
	out := make(map[string]int64, len(e.seen))
	for k, v := range e.seen {
		out[e.what+": "+k] = v
	}
	return out
}
