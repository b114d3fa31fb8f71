package verify

import (
	"strings"
	"testing"
)

const testRun = "gvtest"

func val(producer int, seq int64) string { return FormatValue(testRun, producer, seq) }

func acked(producer int, seq int64, partition int32, offset int64) Send {
	return Send{Value: val(producer, seq), Outcome: Acked, Partition: partition, Offset: offset}
}

func read(reader string, partition int32, offset int64, value string) Read {
	return Read{Reader: reader, Partition: partition, Offset: offset, Value: value}
}

// cleanHistory is two producers on two partitions, every value read once
// by a consumer and once by the final read, commits moving forward.
func cleanHistory() *History {
	h := &History{Run: testRun}
	// p0: producer 0 seq 0,1 then producer 1 seq 0; p1: producer 0 seq 2, 3.
	h.Sends = []Send{
		acked(0, 0, 0, 0), acked(0, 1, 0, 1), acked(1, 0, 0, 2),
		acked(0, 2, 1, 0), acked(0, 3, 1, 1),
	}
	for _, reader := range []string{"c0", "final"} {
		for _, s := range h.Sends {
			h.Reads = append(h.Reads, read(reader, s.Partition, s.Offset, s.Value))
		}
	}
	h.Commits = []Commit{{"g", 0, 1, false}, {"g", 1, 2, false}, {"g", 0, 3, false}}
	return h
}

// wantOnly checks that r has count anomalies of kind, none of the other
// kinds except those in also, and that the first example mentions want.
func wantOnly(t *testing.T, r *Report, kind string, count int, want string, also ...string) {
	t.Helper()
	for _, a := range r.Anomalies {
		switch {
		case a.Kind == kind:
			if a.Count != count {
				t.Errorf("%s: %d, want %d (%v)", kind, a.Count, count, a.Examples)
			}
			if count > 0 && (len(a.Examples) == 0 || !strings.Contains(a.Examples[0], want)) {
				t.Errorf("%s examples %q, want the first to contain %q", kind, a.Examples, want)
			}
		case a.Count > 0 && !contains(also, a.Kind):
			t.Errorf("unexpected %s: %d %q", a.Kind, a.Count, a.Examples)
		}
	}
	if r.OK != (count == 0) {
		t.Errorf("OK = %v with %d %s", r.OK, count, kind)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestVerifyCheckClean(t *testing.T) {
	r := Check(cleanHistory())
	wantOnly(t, r, KindLost, 0, "")
	if r.Sent != 5 || r.Acknowledged != 5 || r.Reads != 10 || r.ValuesRead != 5 {
		t.Errorf("counts %+v", r)
	}
	if len(r.Anomalies) != len(Kinds) {
		t.Errorf("%d anomaly entries, want one per kind (%d)", len(r.Anomalies), len(Kinds))
	}
}

func TestVerifyCheckAnomalies(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(h *History)
		kind  string
		count int
		want  string
		also  []string
	}{
		{
			name: "lost: skipped by every reader, later offsets read",
			edit: func(h *History) { h.Reads = dropReads(h.Reads, 0, 1) },
			kind: KindLost, count: 1, want: val(0, 1),
		},
		{
			name: "unseen: the tail of a partition never read",
			edit: func(h *History) { h.Reads = dropReads(h.Reads, 0, 2) },
			kind: KindUnseen, count: 1, want: val(1, 0),
		},
		{
			name: "unseen: acks 0, offset unknown",
			edit: func(h *History) {
				h.Sends = append(h.Sends, Send{Value: val(1, 1), Outcome: Acked, Partition: 1, Offset: -1})
			},
			kind: KindUnseen, count: 1, want: val(1, 1),
		},
		{
			name: "duplicated: one value at two offsets",
			edit: func(h *History) { h.Reads = append(h.Reads, read("final", 1, 2, val(0, 3))) },
			kind: KindDuplicated, count: 1, want: "p1@1 p1@2",
		},
		{
			name: "inconsistent: two readers, two values at one offset",
			edit: func(h *History) { h.Reads = append(h.Reads, read("g0", 1, 0, "otherrun-p0-7")) },
			kind: KindInconsistent, count: 1, want: "p1@0",
		},
		{
			name: "inconsistent, not lost: the final read found another value at an acknowledged offset",
			edit: func(h *History) {
				h.Reads = dropReads(h.Reads, 0, 1)
				h.Reads = append(h.Reads, read("final", 0, 1, "otherrun-p3-3"))
			},
			kind: KindInconsistent, count: 1, want: "acknowledged",
		},
		{
			name: "inconsistent: acknowledged at one offset, read at another",
			edit: func(h *History) {
				h.Sends = append(h.Sends, acked(1, 1, 1, 7))
				h.Reads = append(h.Reads, read("final", 1, 2, val(1, 1)))
			},
			kind: KindInconsistent, count: 1, want: "read at [p1@2]",
		},
		{
			name: "reordered: a producer's sequence going back in offset order",
			edit: func(h *History) {
				// The final read sees p1's two values swapped; the
				// acknowledgements and c0 disagree with it, and each
				// value was read at two offsets.
				for i := range h.Reads {
					rd := &h.Reads[i]
					if rd.Reader == "final" && rd.Partition == 1 {
						rd.Value = val(0, 3-rd.Offset)
					}
				}
			},
			kind: KindReordered, count: 1, want: "reader final", also: []string{KindInconsistent, KindDuplicated},
		},
		{
			name: "aborted read: a failed send read",
			edit: func(h *History) {
				h.Sends = append(h.Sends, Send{Value: val(1, 1), Outcome: Failed, Partition: 0, Offset: -1, Err: "INVALID_RECORD"})
				h.Reads = append(h.Reads, read("c0", 0, 3, val(1, 1)))
			},
			kind: KindAbortedRead, count: 1, want: "INVALID_RECORD",
		},
		{
			name: "aborted read: an aborted transaction read under read_committed",
			edit: func(h *History) {
				h.ReadCommitted = true
				h.Sends = append(h.Sends, Send{Value: val(1, 1), Outcome: Aborted, Partition: 0, Offset: 3})
				h.Reads = append(h.Reads, read("final", 0, 3, val(1, 1)))
			},
			kind: KindAbortedRead, count: 1, want: "aborted",
		},
		{
			name: "no anomaly: an aborted transaction read under read_uncommitted",
			edit: func(h *History) {
				h.Sends = append(h.Sends, Send{Value: val(1, 1), Outcome: Aborted, Partition: 0, Offset: 3})
				h.Reads = append(h.Reads, read("final", 0, 3, val(1, 1)))
			},
			kind: KindAbortedRead, count: 0,
		},
		{
			name: "no anomaly: an indeterminate send read, or never read",
			edit: func(h *History) {
				h.Sends = append(h.Sends,
					Send{Value: val(1, 1), Outcome: Indeterminate, Partition: 0, Offset: -1},
					Send{Value: val(1, 2), Outcome: Pending, Partition: 0, Offset: -1})
				h.Reads = append(h.Reads, read("final", 0, 3, val(1, 1)))
			},
			kind: KindAbortedRead, count: 0,
		},
		{
			name: "no anomaly: other runs' values at other offsets",
			edit: func(h *History) {
				h.Reads = append(h.Reads, read("final", 1, 5, "gvold-p0-1"), read("final", 1, 6, "gvold-p0-1"), read("final", 1, 7, "gvold-p0-0"))
			},
			kind: KindDuplicated, count: 0,
		},
		{
			name: "no anomaly: re-reads of one offset (a group rebalance)",
			edit: func(h *History) {
				h.Reads = append(h.Reads, read("g0", 0, 0, val(0, 0)), read("g0", 0, 1, val(0, 1)), read("g0", 0, 0, val(0, 0)))
			},
			kind: KindReordered, count: 0,
		},
		{
			name: "commits backwards",
			edit: func(h *History) { h.Commits = append(h.Commits, Commit{"g", 0, 2, false}, Commit{"g", 0, 3, false}) },
			kind: KindCommitBackwards, count: 1, want: "offset 2 after 3",
		},
		{
			name: "no anomaly: a reset verify made itself",
			edit: func(h *History) { h.Commits = append(h.Commits, Commit{"g", 0, 0, true}, Commit{"g", 0, 1, false}) },
			kind: KindCommitBackwards, count: 0,
		},
		{
			name: "no anomaly: another group's lower offsets",
			edit: func(h *History) { h.Commits = append(h.Commits, Commit{"other", 0, 0, false}) },
			kind: KindCommitBackwards, count: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := cleanHistory()
			tc.edit(h)
			r := Check(h)
			wantOnly(t, r, tc.kind, tc.count, tc.want, tc.also...)
		})
	}
}

// dropReads removes every read of one offset of partition p.
func dropReads(rs []Read, p int32, offset int64) []Read {
	out := rs[:0:0]
	for _, rd := range rs {
		if rd.Partition == p && rd.Offset == offset {
			continue
		}
		out = append(out, rd)
	}
	return out
}

func TestVerifyCheckExamplesBounded(t *testing.T) {
	h := &History{Run: testRun}
	for i := int64(0); i < 20; i++ {
		h.Sends = append(h.Sends, acked(0, i, 0, i))
	}
	h.Reads = append(h.Reads, read("final", 0, 20, "gvold-p0-0"))
	r := Check(h)
	if got := r.Count(KindLost); got != 20 {
		t.Fatalf("lost %d, want 20", got)
	}
	for _, a := range r.Anomalies {
		if len(a.Examples) > MaxExamples {
			t.Errorf("%s: %d examples, want at most %d", a.Kind, len(a.Examples), MaxExamples)
		}
	}
}

func TestVerifyValueRoundTrip(t *testing.T) {
	v := FormatValue("gvab12", 3, 1234)
	id, ok := parseValue("gvab12", v)
	if !ok || id != (valueID{3, 1234}) {
		t.Fatalf("parseValue(%q) = %v, %v", v, id, ok)
	}
	for _, bad := range []string{"gvab1-p3-1", "gvab12-p3", "gvab12-px-1", "gvab12-p3--1", "hello"} {
		if _, ok := parseValue("gvab12", bad); ok {
			t.Errorf("parseValue(%q) ok", bad)
		}
	}
}
