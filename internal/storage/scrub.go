package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gregor-dev/gregor/internal/record"
)

// Scrubbing. Recovery checks every batch's CRC only in the segments it
// rescans (the active one, and after a crash those above the recovery
// point); bytes that rot in a sealed segment afterwards would be served as
// they are. Scrub walks the sealed segments (every segment but the active
// one) batch by batch, at the pace of a Throttle, and checks framing and
// CRC. A damaged batch is recorded as a Damage: from then on Read refuses
// any read that would include it (ErrDamaged, wrapped in ErrStorage, so
// KAFKA_STORAGE_ERROR: clients retry and refresh metadata) and still
// serves everything before it and after it. Nothing is changed on disk:
// what to do with the damage (refetch it from another replica, or report
// it lost) is the partition's decision.
//
// The offset range of a damaged batch is taken from its neighbours, not
// from its own header, whose base offset is outside the CRC: it starts
// where the previous batch ends (the segment's base for the first) and
// ends where the next batch begins, if the damaged batch's length still
// leads to a batch that passes its CRC, else at the end of the segment
// (the next segment's base offset). Compaction gaps inside the range are
// refused with it.

// ErrDamaged marks a read refused because it would include a batch that
// failed its CRC check at rest (see Scrub).
var ErrDamaged = errors.New("storage: damaged batch in the log")

// Damage is one range of offsets whose bytes failed the scrub.
type Damage struct {
	Segment  string // the .log file
	Pos      int64  // byte position of the damaged batch in it
	From, To int64  // the offsets [From, To) that cannot be served
	// Records is the record count the damaged batch's header claims, -1
	// when its header could not be read (the count is inside the CRC, so
	// it may be damaged too: To-From is the reliable bound).
	Records int32
	Reason  string
}

// Offsets is the number of offsets the damage covers.
func (d Damage) Offsets() int64 { return d.To - d.From }

// ScrubResult is what one Scrub pass did.
type ScrubResult struct {
	Segments, Batches int
	Bytes             int64
	Found             []Damage // damage not known before this pass
}

// Damaged returns the damaged ranges known (ascending, not overlapping).
func (l *Log) Damaged() []Damage {
	if p := l.damage.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// damagedRead returns the error for a read from offset that starts in a
// damaged range, or else the lowest damaged offset above offset
// (math.MaxInt64 if none): the read must stop below it.
func (l *Log) damagedRead(offset int64) (limit int64, err error) {
	p := l.damage.Load()
	if p == nil {
		return 1<<63 - 1, nil
	}
	for _, d := range *p {
		if offset < d.From {
			return d.From, nil
		}
		if offset < d.To {
			return 0, fmt.Errorf("%w: %w: offsets [%d, %d) in %s at byte %d failed their CRC check (%s)",
				ErrStorage, ErrDamaged, d.From, d.To, d.Segment, d.Pos, d.Reason)
		}
	}
	return 1<<63 - 1, nil
}

// setDamageLocked installs a new damage list (Log.mu held).
func (l *Log) setDamageLocked(ds []Damage) {
	if len(ds) == 0 {
		l.damage.Store(nil)
		return
	}
	l.damage.Store(&ds)
}

// forgetDamageLocked drops what no longer is in [start, leo) after a
// truncation or a raised start offset (Log.mu held).
func (l *Log) forgetDamageLocked() {
	p := l.damage.Load()
	if p == nil {
		return
	}
	start, leo := l.start.Load(), l.leo.Load()
	var kept []Damage
	for _, d := range *p {
		if d.To <= start || d.From >= leo {
			continue
		}
		d.To = min(d.To, leo)
		kept = append(kept, d)
	}
	l.setDamageLocked(kept)
}

// Scrub checks every batch of the sealed segments (see above), waiting on
// throttle (nil: no limit) for the bytes it reads, and returns the damage
// it found that was not known before. It stops early, with ctx's error,
// when ctx ends, and with ErrClosed when the log closes. It takes no lock
// while reading: segments removed meanwhile are skipped.
func (l *Log) Scrub(ctx context.Context, throttle *Throttle) (ScrubResult, error) {
	var res ScrubResult
	if err := l.usable(); err != nil {
		return res, err
	}
	segs := l.segments()
	var buf []byte
	for i := 0; i+1 < len(segs); i++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if l.closed.Load() {
			return res, ErrClosed
		}
		s := segs[i]
		if !s.acquire() {
			continue
		}
		found, err := s.scrub(ctx, throttle, segs[i+1].base, &buf, &res)
		s.release()
		if err != nil {
			return res, err
		}
		res.Segments++
		if len(found) > 0 {
			res.Found = append(res.Found, l.addDamage(s, found)...)
		}
	}
	return res, nil
}

// addDamage records the damage found in s unless s left the log meanwhile
// (truncated, cleaned, deleted), and returns what was new.
func (l *Log) addDamage(s *segment, found []Damage) []Damage {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.segments(), s) {
		return nil
	}
	var all []Damage
	if p := l.damage.Load(); p != nil {
		all = slices.Clone(*p)
	}
	var fresh []Damage
	for _, d := range found {
		if d.From < l.start.Load() || d.From >= l.leo.Load() {
			continue
		}
		if slices.ContainsFunc(all, func(o Damage) bool { return o.From == d.From }) {
			continue
		}
		all = append(all, d)
		fresh = append(fresh, d)
	}
	slices.SortFunc(all, func(a, b Damage) int { return int(min(max(a.From-b.From, -1), 1)) })
	l.setDamageLocked(all)
	return fresh
}

// scrub checks the batches of a sealed segment, which ends at offset end.
func (s *segment) scrub(ctx context.Context, throttle *Throttle, end int64, buf *[]byte, res *ScrubResult) ([]Damage, error) {
	size := s.size.Load()
	hdr := make([]byte, record.HeaderSize)
	var found []Damage
	prev := s.base // where the previous batch ended
	for pos := int64(0); pos < size; {
		h, err := s.header(hdr, pos, size)
		if err != nil {
			if !errors.Is(err, errTorn) && !errors.Is(err, ErrCorrupt) {
				return found, s.readErr(err, pos)
			}
			// The framing is gone: nothing after it can be found.
			return append(found, Damage{Segment: s.log.Name(), Pos: pos, From: prev, To: end, Records: -1, Reason: err.Error()}), nil
		}
		n := h.Size()
		if err := throttle.Wait(ctx, n); err != nil {
			return found, err
		}
		if int64(cap(*buf)) < n {
			*buf = make([]byte, n)
		}
		b := (*buf)[:n]
		if m, err := s.log.ReadAt(b, pos); int64(m) < n {
			return found, s.readErr(fmt.Errorf("short read: %w", err), pos)
		}
		res.Batches++
		res.Bytes += n
		crcErr := record.CheckCRC(b)
		if crcErr == nil && h.BaseOffset >= prev {
			prev, pos = h.NextOffset(), pos+n
			continue
		}
		reason := fmt.Sprintf("batch offset %d, expected at least %d", h.BaseOffset, prev)
		if crcErr != nil {
			reason = crcErr.Error()
		}
		d := Damage{Segment: s.log.Name(), Pos: pos, From: prev, To: end, Records: h.NumRecords, Reason: reason}
		// Does the length lead to an intact batch? Then only this one
		// is damaged.
		next := pos + n
		if next < size {
			nh, err := s.header(hdr, next, size)
			if err != nil || nh.BaseOffset < prev || !s.intact(nh, next) {
				return append(found, d), nil
			}
			d.To = nh.BaseOffset
		}
		if k := len(found) - 1; k >= 0 && found[k].To == d.From {
			found[k].To = d.To // adjacent: one range
		} else {
			found = append(found, d)
		}
		prev, pos = d.To, next
	}
	return found, nil
}

// intact reports whether the batch h at pos passes its CRC.
func (s *segment) intact(h record.Header, pos int64) bool {
	b, err := s.readBatch(&h, pos)
	return err == nil && record.CheckCRC(b) == nil
}
