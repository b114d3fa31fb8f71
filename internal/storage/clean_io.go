package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
)

// The cleaner's I/O: a sequential batch scanner over a segment file, the
// writer of a cleaned segment's temporary files, and the throttle both go
// through.

// cleanedSuffix marks the files of a segment being rewritten by the
// cleaner. Recovery deletes them (isLeftover): a crash before the rename
// leaves the old segment as it was.
const cleanedSuffix = ".cleaned"

// Throttle limits the log cleaner's combined read and write rate to a
// number of bytes per second (log.cleaner.io.max.bytes.per.second), shared
// by every cleaner thread. It is a token bucket holding at most one
// second's worth of bytes: I/O that overdraws it waits until the debt is
// paid back. A nil *Throttle does not limit. Safe for concurrent use.
type Throttle struct {
	rate  float64 // bytes per second
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	tokens float64 // may go negative: the debt to wait for
	last   time.Time
}

// NewThrottle returns a throttle of rate bytes per second, or nil (no
// limit) when rate is not a positive finite number below MaxFloat64,
// Kafka's "unlimited" default. now and sleep may be nil for the real
// clock.
func NewThrottle(rate float64, now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) *Throttle {
	if !(rate > 0) || rate >= math.MaxFloat64 || math.IsInf(rate, 1) {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	return &Throttle{rate: rate, now: now, sleep: sleep, tokens: rate, last: now()}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Wait accounts for n bytes of I/O and waits while the bucket is in debt.
func (t *Throttle) Wait(ctx context.Context, n int64) error {
	if t == nil || n <= 0 {
		return nil
	}
	t.mu.Lock()
	now := t.now()
	if el := now.Sub(t.last).Seconds(); el > 0 {
		t.tokens = min(t.tokens+el*t.rate, t.rate)
	}
	t.last = now
	t.tokens -= float64(n)
	debt := -t.tokens
	t.mu.Unlock()
	if debt <= 0 {
		return nil
	}
	return t.sleep(ctx, time.Duration(debt/t.rate*float64(time.Second)))
}

// cleanIO is what one cleaning pass does after each read and write: count
// the bytes, throttle, and stop when cancelled or when the log closes or
// is truncated.
type cleanIO struct {
	ctx         context.Context
	l           *Log
	throttle    *Throttle
	truncations int64 // the log's count when the pass began
	read        int64
	written     int64
}

func (c *cleanIO) account(read, written int64) error {
	c.read += read
	c.written += written
	if err := c.throttle.Wait(c.ctx, read+written); err != nil {
		return err
	}
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if err := c.l.usable(); err != nil {
		return err
	}
	if c.l.cleaner.truncations.Load() != c.truncations {
		return ErrCleanAborted
	}
	return nil
}

// scanChunk is how much of a segment file the scanner reads at once.
const scanChunk = 1 << 20

// segmentScanner reads the whole batches of a segment file between two
// positions, in chunks.
type segmentScanner struct {
	s      *segment
	io     *cleanIO
	end    int64
	buf    []byte
	bufPos int64 // file position of buf[0]
	off    int   // position in buf of the next batch
}

func (sc *segmentScanner) reset(s *segment, from, end int64) {
	sc.s, sc.end = s, end
	sc.buf, sc.bufPos, sc.off = sc.buf[:0], from, 0
}

// next returns the next batch, its header and its file position; ok is
// false at the end. The batch is valid until the next call. A batch that
// is torn or fails its CRC is an error wrapping ErrCorrupt: closed
// segments hold none.
func (sc *segmentScanner) next() (h record.Header, batch []byte, pos int64, ok bool, err error) {
	for {
		pos = sc.bufPos + int64(sc.off)
		if pos >= sc.end {
			return h, nil, pos, false, nil
		}
		h, batch, _, err = record.Next(sc.buf[sc.off:])
		if err == nil {
			if err := record.CheckCRC(batch); err != nil {
				return h, nil, pos, false, fmt.Errorf("%w: %s at %d: %w", ErrCorrupt, sc.s.log.Name(), pos, err)
			}
			if pos+h.Size() > sc.end || h.LastOffsetDelta < 0 {
				return h, nil, pos, false, fmt.Errorf("%w: %s: batch at %d does not fit", ErrCorrupt, sc.s.log.Name(), pos)
			}
			sc.off += len(batch)
			return h, batch, pos, true, nil
		}
		if !errors.Is(err, record.ErrTruncated) {
			return h, nil, pos, false, fmt.Errorf("%w: %s at %d: %w", ErrCorrupt, sc.s.log.Name(), pos, err)
		}
		if err := sc.fill(pos); err != nil {
			return h, nil, pos, false, err
		}
	}
}

// fill moves the unread bytes to the front of the buffer and reads more
// after them: a chunk, or the whole of the next batch if it is larger.
func (sc *segmentScanner) fill(pos int64) error {
	rest := sc.buf[sc.off:]
	need := int64(scanChunk)
	if n, err := record.BatchSize(rest); err == nil && n > need {
		need = n
	}
	need = min(need, sc.end-pos)
	if int64(len(rest)) >= need {
		return fmt.Errorf("%w: %s: torn batch at %d", ErrCorrupt, sc.s.log.Name(), pos)
	}
	if int64(cap(sc.buf)) < need {
		nb := make([]byte, len(rest), need)
		copy(nb, rest)
		sc.buf = nb
	} else {
		sc.buf = sc.buf[:copy(sc.buf, rest)]
	}
	sc.bufPos, sc.off = pos, 0
	filled := pos + int64(len(sc.buf))
	want := int(need) - len(sc.buf)
	n, err := sc.s.log.ReadAt(sc.buf[len(sc.buf):len(sc.buf)+want], filled)
	sc.buf = sc.buf[:len(sc.buf)+n]
	if n < want {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: %s: short read at %d", ErrCorrupt, sc.s.log.Name(), filled)
		}
		return err
	}
	return sc.io.account(int64(n), 0)
}

// cleanedWriter writes a segment's replacement to <base>.log.cleaned with
// its indexes (<base>.index.cleaned, <base>.timeindex.cleaned), built by
// the same code appends use.
type cleanedWriter struct {
	fs       FS
	dir      string
	seg      *segment // its files are the .cleaned ones
	w        *bufio.Writer
	io       *cleanIO
	pos      int64
	interval int64
}

var segmentSuffixes = [3]string{logSuffix, indexSuffix, timeIndexSuffix}

func cleanedPath(dir string, base int64, suffix string) string {
	return segmentPath(dir, base, suffix) + cleanedSuffix
}

// newCleanedWriter creates the .cleaned files of segment base, writing the
// .log through bw (reset to it).
func newCleanedWriter(fs FS, dir string, base, interval int64, cio *cleanIO, bw *bufio.Writer) (*cleanedWriter, error) {
	s := &segment{base: base, next: base, maxTs: -1, maxTsOff: -1, rollBase: -1}
	s.initIndexes(fs, func(suffix string) string { return cleanedPath(dir, base, suffix) })
	for _, suffix := range segmentSuffixes {
		f, err := fs.OpenFile(cleanedPath(dir, base, suffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, filePerm)
		if err != nil {
			if s.log != nil {
				s.log.Close()
			}
			removeCleanedFiles(fs, dir, base)
			return nil, err
		}
		if suffix == logSuffix {
			s.log = f
		} else {
			f.Close() // created empty; finish persists the entries
		}
	}
	bw.Reset(s.log)
	return &cleanedWriter{fs: fs, dir: dir, seg: s, w: bw, io: cio, interval: interval}, nil
}

// add appends one batch, indexing it.
func (c *cleanedWriter) add(batch []byte, h *record.Header) error {
	if _, err := c.w.Write(batch); err != nil {
		return err
	}
	c.seg.indexBatch(h, c.pos, c.interval)
	c.pos += int64(len(batch))
	return c.io.account(0, int64(len(batch)))
}

// finish writes everything out, gives the .log file the modification time
// of the segment it replaces (delete.retention.ms counts from it), and
// fsyncs and closes the three files.
func (c *cleanedWriter) finish(mtime time.Time) error {
	s := c.seg
	err := c.w.Flush()
	s.finish()
	if err == nil {
		err = chtimes(c.fs, cleanedPath(c.dir, s.base, logSuffix), mtime)
	}
	if err == nil {
		err = s.log.Sync()
	}
	if err == nil {
		err = s.persistIndexes()
	}
	return errors.Join(err, s.close())
}

// discard closes and deletes the temporary files.
func (c *cleanedWriter) discard() {
	c.seg.close()
	removeCleanedFiles(c.fs, c.dir, c.seg.base)
}

func removeCleanedFiles(fs FS, dir string, base int64) {
	for _, suffix := range segmentSuffixes {
		fs.Remove(cleanedPath(dir, base, suffix))
	}
}

// chtimer is implemented by file systems that can set modification times
// (OS, and storagetest's FaultFS and MemFS). On others a cleaned segment's
// time is the time it was cleaned.
type chtimer interface {
	Chtimes(name string, atime, mtime time.Time) error
}

func chtimes(fs FS, name string, mtime time.Time) error {
	if c, ok := fs.(chtimer); ok {
		return c.Chtimes(name, mtime, mtime)
	}
	return nil
}

// Chtimes sets a file's access and modification times.
func (osFS) Chtimes(name string, atime, mtime time.Time) error {
	return os.Chtimes(name, atime, mtime)
}
