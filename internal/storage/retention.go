package storage

import (
	"math"
	"time"
)

// Retain applies time and size retention (Kafka's retention.ms and
// retention.bytes; -1 means unlimited) the way Kafka's retention task does:
// the oldest segments go while their newest timestamp is more than
// retentionMs old, then more of the oldest while the log would still hold at
// least retentionBytes without them. When every segment qualifies, the
// active one is rolled first so that it can go too. The log start offset
// moves to the first segment kept, and it returns how many were deleted.
func (l *Log) Retain(retentionMs, retentionBytes int64) (deleted int, err error) {
	return l.RetainBelow(retentionMs, retentionBytes, math.MaxInt64)
}

// RetainBelow is Retain deleting only segments wholly below upTo (the high
// watermark of a replicated partition, as Kafka bounds retention: records
// not yet committed stay, so followers can still fetch them).
func (l *Log) RetainBelow(retentionMs, retentionBytes, upTo int64) (deleted int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	segs := l.segments()
	n := 0 // segs[:n] are to go
	if retentionMs >= 0 {
		now := l.nowMs()
		for n < len(segs) && segs[n].size.Load() > 0 && now-l.largestTimestampLocked(segs[n]) > retentionMs {
			n++
		}
	}
	if retentionBytes >= 0 {
		var size int64
		for _, s := range segs[n:] {
			size += s.size.Load()
		}
		for n < len(segs) && segs[n].size.Load() > 0 && size-segs[n].size.Load() >= retentionBytes {
			size -= segs[n].size.Load()
			n++
		}
	}
	if n == len(segs) && l.leo.Load() > upTo {
		n-- // the active segment holds records above upTo
	}
	for n > 0 && n < len(segs) && segs[n].base > upTo {
		n-- // segs[n-1] holds records above upTo
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(segs) {
		// Everything expired, the active segment included: start a new
		// one so the old can be deleted.
		if err := l.rollLocked(); err != nil {
			return 0, err
		}
		segs = l.segments()
	}
	if err := l.raiseStartLocked(segs[n].base); err != nil {
		return 0, err
	}
	l.opts.Logger.Info("storage: retention deleted segments", "dir", l.dir, "segments", n, "start_offset", segs[n].base)
	return n, nil
}

// largestTimestampLocked is the segment's newest record timestamp, or its
// file's modification time when no batch carries one, as in Kafka.
func (l *Log) largestTimestampLocked(s *segment) int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	if fi, err := s.log.Stat(); err == nil {
		return fi.ModTime().UnixMilli()
	}
	return time.Now().UnixMilli()
}
