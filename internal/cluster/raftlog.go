package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// raftLogger is hashicorp/raft's logger writing through log/slog, like the
// rest of the broker: hclog writes one JSON object per line to a raftLog,
// which passes it on as a slog record at the same level, with the fields
// as attributes.
func raftLogger(l *slog.Logger, level hclog.Level, every time.Duration, now func() time.Time) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name: "raft", Level: level, JSONFormat: true,
		Output: &raftLog{l: l.With("component", "raft"), every: every, now: now, last: map[string]time.Time{}},
	})
}

// raftLog drops a line whose message was written less than every ago: a
// dead peer makes hashicorp/raft log the same error several times a second
// for as long as it is down.
type raftLog struct {
	l     *slog.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

func (w *raftLog) Write(p []byte) (int, error) {
	var fields map[string]any
	if err := json.Unmarshal(p, &fields); err != nil {
		w.l.Warn(strings.TrimSpace(string(p)))
		return len(p), nil
	}
	msg, _ := fields["@message"].(string)
	lvl, _ := fields["@level"].(string)
	if w.repeated(msg) {
		return len(p), nil
	}
	level := slog.LevelInfo
	switch lvl {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	var attrs []slog.Attr
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range fields {
			if !strings.HasPrefix(k, "@") && !yield(k) {
				return
			}
		}
	}) {
		attrs = append(attrs, slog.Any(k, fields[k]))
	}
	w.l.LogAttrs(context.Background(), level, msg, attrs...)
	return len(p), nil
}

func (w *raftLog) repeated(msg string) bool {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	last, seen := w.last[msg]
	if seen && now.Sub(last) < w.every {
		return true
	}
	w.last[msg] = now
	if len(w.last) > 1000 { // bounded: forget everything now and then
		w.last = map[string]time.Time{msg: now}
	}
	return false
}
