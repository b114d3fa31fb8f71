package cli

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress draws one self-overwriting line on a terminal: "consumed
// 120/1000 records (12%)  3.1s". It draws nothing when disabled, so
// callers need not check.
type progress struct {
	w       io.Writer
	enabled bool
	what    string // "consumed", "committed"
	unit    string // "records", "partitions"
	total   int64  // 0: unknown
	now     func() time.Time
	start   time.Time
	last    time.Time
	drawn   bool
}

// progressInterval bounds how often the line is redrawn.
const progressInterval = 100 * time.Millisecond

// newProgress returns a progress line on the session's stderr, enabled
// when stderr is a terminal; overOutput says the command writes its
// results while it runs, and then the line is drawn only when stdout is
// not that terminal too (the lines would mix).
func newProgress(s *session, what, unit string, total int64, overOutput bool) *progress {
	enabled := isTerminal(s.errOut) && (!overOutput || !isTerminal(s.out))
	p := &progress{w: s.errOut, enabled: enabled, what: what, unit: unit, total: total, now: time.Now}
	p.start = p.now()
	return p
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// update redraws the line with done items, at most every
// progressInterval (always when done reaches the total).
func (p *progress) update(done int64) {
	if !p.enabled {
		return
	}
	now := p.now()
	if p.drawn && now.Sub(p.last) < progressInterval && (p.total == 0 || done < p.total) {
		return
	}
	p.last, p.drawn = now, true
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(done, now))
}

func (p *progress) line(done int64, now time.Time) string {
	elapsed := now.Sub(p.start).Seconds()
	if p.total > 0 {
		return fmt.Sprintf("%s %d/%d %s (%d%%)  %.1fs", p.what, done, p.total, p.unit, done*100/p.total, elapsed)
	}
	return fmt.Sprintf("%s %d %s  %.1fs", p.what, done, p.unit, elapsed)
}

// finish erases the line.
func (p *progress) finish() {
	if p.enabled && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
