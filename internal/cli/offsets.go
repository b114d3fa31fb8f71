package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// offsetKind is what an offset argument names.
type offsetKind int

const (
	offsetStart     offsetKind = iota // log start
	offsetEnd                         // high watermark (next offset to be written)
	offsetExact                       // N
	offsetFromEnd                     // -N: N before the end
	offsetFromStart                   // +N: N after the start
	offsetTime                        // @T: first record at or after T
)

// offsetSpec is a parsed --offset / --to / trim offset value.
type offsetSpec struct {
	kind offsetKind
	n    int64 // offset, or count for the relative kinds
	ms   int64 // offsetTime: milliseconds since the epoch
}

const offsetSyntax = "start, end, N, -N (N before the end), +N (N after the start) or @TIME " +
	"(milliseconds since the epoch, RFC 3339, or -DURATION before now: @-1h)"

// parseOffset reads an offset argument; now resolves @-DURATION.
func parseOffset(s string, now time.Time) (offsetSpec, error) {
	bad := func() (offsetSpec, error) {
		return offsetSpec{}, fmt.Errorf("offset %q: want %s", s, offsetSyntax)
	}
	switch {
	case s == "start" || s == "beginning" || s == "oldest":
		return offsetSpec{kind: offsetStart}, nil
	case s == "end" || s == "newest" || s == "latest":
		return offsetSpec{kind: offsetEnd}, nil
	case strings.HasPrefix(s, "@"):
		t := s[1:]
		if ms, err := strconv.ParseInt(t, 10, 64); err == nil && ms >= 0 {
			return offsetSpec{kind: offsetTime, ms: ms}, nil
		}
		if strings.HasPrefix(t, "-") {
			d, err := time.ParseDuration(t[1:])
			if err != nil || d < 0 {
				return bad()
			}
			return offsetSpec{kind: offsetTime, ms: now.Add(-d).UnixMilli()}, nil
		}
		ts, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return bad()
		}
		return offsetSpec{kind: offsetTime, ms: ts.UnixMilli()}, nil
	case strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+"):
		n, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || n < 0 {
			return bad()
		}
		if s[0] == '-' {
			return offsetSpec{kind: offsetFromEnd, n: n}, nil
		}
		return offsetSpec{kind: offsetFromStart, n: n}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return bad()
	}
	return offsetSpec{kind: offsetExact, n: n}, nil
}

// kgo is the consumer offset of the spec.
func (o offsetSpec) kgo() kgo.Offset {
	switch o.kind {
	case offsetEnd:
		return kgo.NewOffset().AtEnd()
	case offsetExact:
		return kgo.NewOffset().At(o.n)
	case offsetFromEnd:
		return kgo.NewOffset().AtEnd().Relative(-o.n)
	case offsetFromStart:
		return kgo.NewOffset().AtStart().Relative(o.n)
	case offsetTime:
		return kgo.NewOffset().AfterMilli(o.ms)
	}
	return kgo.NewOffset().AtStart()
}

// resolvedOffset is one partition's offset resolved against the log, or why
// it could not be.
type resolvedOffset struct {
	offset int64
	err    error
}

// partitionOffsets holds a value per topic and partition.
type partitionOffsets map[string]map[int32]resolvedOffset

func (po partitionOffsets) set(t string, p int32, r resolvedOffset) {
	if po[t] == nil {
		po[t] = map[int32]resolvedOffset{}
	}
	po[t][p] = r
}

// resolveOffsets turns the spec into an offset per partition of set, with
// the relative and exact offsets kept within [log start, end] and a time
// after the last record resolved to the end, as kafka-consumer-groups.sh
// --reset-offsets does.
func resolveOffsets(ctx context.Context, adm *kadm.Client, spec offsetSpec, set kadm.TopicsSet) (partitionOffsets, error) {
	topics := set.Topics()
	out := partitionOffsets{}
	if len(topics) == 0 {
		return out, nil
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var times kadm.ListedOffsets
	if spec.kind == offsetTime {
		if times, err = adm.ListOffsetsAfterMilli(ctx, spec.ms, topics...); err != nil {
			return nil, fmt.Errorf("list offsets after %d ms: %w", spec.ms, err)
		}
	}
	set.Each(func(t string, p int32) {
		start, err1 := lookupOffset(starts, t, p)
		end, err2 := lookupOffset(ends, t, p)
		if err1 != nil || err2 != nil {
			out.set(t, p, resolvedOffset{offset: -1, err: firstErr(err1, err2)})
			return
		}
		clamp := func(o int64) int64 { return max(start, min(end, o)) }
		var r resolvedOffset
		switch spec.kind {
		case offsetStart:
			r.offset = start
		case offsetEnd:
			r.offset = end
		case offsetExact:
			r.offset = clamp(spec.n)
		case offsetFromEnd:
			r.offset = clamp(end - spec.n)
		case offsetFromStart:
			r.offset = clamp(start + spec.n)
		case offsetTime:
			o, err := lookupOffset(times, t, p)
			switch {
			case err != nil:
				r = resolvedOffset{offset: -1, err: err}
			case o < 0:
				r.offset = end
			default:
				r.offset = clamp(o)
			}
		}
		out.set(t, p, r)
	})
	return out, nil
}

// lookupOffset is a listed partition's offset or its error; a topic the
// cluster lacks is UNKNOWN_TOPIC_OR_PARTITION.
func lookupOffset(l kadm.ListedOffsets, t string, p int32) (int64, error) {
	if lo, ok := l.Lookup(t, p); ok {
		return lo.Offset, lo.Err
	}
	if lo, ok := l.Lookup(t, -1); ok && lo.Err != nil {
		return -1, lo.Err
	}
	return -1, kerr.UnknownTopicOrPartition
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
