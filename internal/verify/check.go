package verify

import (
	"cmp"
	"fmt"
	"slices"
)

// Anomaly kinds, in the order reports list them.
const (
	// KindLost: an acknowledged value never read by anyone, whose
	// acknowledged offset is below the highest offset read in its
	// partition: readers went past it.
	KindLost = "lost"
	// KindUnseen: an acknowledged value never read, at or above the
	// highest offset read in its partition (or at an unknown offset, acks
	// 0): not provably lost, but the final read should have reached it.
	KindUnseen = "unseen"
	// KindDuplicated: one value read at two or more offsets.
	KindDuplicated = "duplicated"
	// KindInconsistent: one partition offset seen with two values, by two
	// reads or by a read and the acknowledgement of a value at that
	// offset; also an acknowledged value read only at other offsets.
	KindInconsistent = "inconsistent_offsets"
	// KindReordered: a reader saw, in offset order within a partition, a
	// producer's sequence number go backwards.
	KindReordered = "reordered"
	// KindAbortedRead: a value read whose send failed, or (read_committed)
	// whose transaction was aborted.
	KindAbortedRead = "aborted_reads"
	// KindCommitBackwards: a group's committed offset of a partition
	// observed lower than an earlier observation.
	KindCommitBackwards = "commits_backwards"
)

// Kinds lists the anomaly kinds in report order.
var Kinds = []string{KindLost, KindUnseen, KindDuplicated, KindInconsistent, KindReordered, KindAbortedRead, KindCommitBackwards}

// MaxExamples bounds the examples a report keeps of each kind.
const MaxExamples = 5

// Anomaly is the count of one kind and its first few examples.
type Anomaly struct {
	Kind     string   `json:"kind"`
	Count    int      `json:"count"`
	Examples []string `json:"examples"`
}

// Report is the verdict on a history.
type Report struct {
	Run           string `json:"run"`
	Sent          int    `json:"sent"`
	Acknowledged  int    `json:"acknowledged"`
	Failed        int    `json:"failed"`
	Indeterminate int    `json:"indeterminate"` // includes values pending at the end
	Aborted       int    `json:"aborted"`       // in aborted transactions
	// Reads counts records of this run read, by all readers;
	// ValuesRead the distinct values among them; OtherReads the records
	// of other runs (or not verify's) that were read and ignored.
	Reads      int `json:"reads"`
	ValuesRead int `json:"values_read"`
	OtherReads int `json:"other_reads"`
	// Anomalies has one entry per kind, in the order of Kinds.
	Anomalies []Anomaly `json:"anomalies"`
	// OK is true when every anomaly count is zero.
	OK bool `json:"ok"`
}

// Count returns the count of kind.
func (r *Report) Count(kind string) int {
	for _, a := range r.Anomalies {
		if a.Kind == kind {
			return a.Count
		}
	}
	return 0
}

// tally collects the anomalies of one kind.
type tally struct {
	a Anomaly
}

func (t *tally) add(format string, args ...any) {
	t.a.Count++
	if len(t.a.Examples) < MaxExamples {
		t.a.Examples = append(t.a.Examples, fmt.Sprintf(format, args...))
	}
}

// partOffset is one offset of one partition.
type partOffset struct {
	partition int32
	offset    int64
}

func (po partOffset) String() string { return fmt.Sprintf("p%d@%d", po.partition, po.offset) }

// observation is the first value seen at an offset and who saw it.
type observation struct {
	value string
	by    string
}

// Check finds the anomalies of a history. It is a pure function: the same
// history gives the same report, examples included.
func Check(h *History) *Report {
	r := &Report{Run: h.Run}
	tallies := make(map[string]*tally, len(Kinds))
	for _, k := range Kinds {
		tallies[k] = &tally{a: Anomaly{Kind: k, Examples: []string{}}}
	}

	sends := make(map[string]*Send, len(h.Sends))
	for i := range h.Sends {
		s := &h.Sends[i]
		sends[s.Value] = s
		r.Sent++
		switch s.Outcome {
		case Acked:
			r.Acknowledged++
		case Failed:
			r.Failed++
		case Aborted:
			r.Aborted++
		default:
			r.Indeterminate++
		}
	}

	// One offset, one value: every read and every acknowledgement is an
	// observation of an offset.
	seen := map[partOffset]observation{}
	inconsistent := map[partOffset]bool{}
	observe := func(po partOffset, value, by string) {
		first, ok := seen[po]
		if !ok {
			seen[po] = observation{value, by}
			return
		}
		if first.value != value && !inconsistent[po] {
			inconsistent[po] = true
			tallies[KindInconsistent].add("%v: %q (%s) and %q (%s)", po, first.value, first.by, value, by)
		}
	}
	for _, s := range h.Sends {
		if s.Outcome == Acked && s.Offset >= 0 {
			observe(partOffset{s.Partition, s.Offset}, s.Value, "acknowledged")
		}
	}

	maxRead := map[int32]int64{}
	readAt := map[string][]partOffset{} // value of this run -> distinct offsets read
	aborted := map[string]bool{}
	for _, rd := range h.Reads {
		po := partOffset{rd.Partition, rd.Offset}
		observe(po, rd.Value, "read by "+rd.Reader)
		if m, ok := maxRead[rd.Partition]; !ok || rd.Offset > m {
			maxRead[rd.Partition] = rd.Offset
		}
		if _, ok := parseValue(h.Run, rd.Value); !ok {
			r.OtherReads++
			continue
		}
		r.Reads++
		if !slices.Contains(readAt[rd.Value], po) {
			readAt[rd.Value] = append(readAt[rd.Value], po)
		}
		if s, ok := sends[rd.Value]; ok && !aborted[rd.Value] {
			if s.Outcome == Failed || (s.Outcome == Aborted && h.ReadCommitted) {
				aborted[rd.Value] = true
				tallies[KindAbortedRead].add("%q (%s: %s) read by %s at %v", rd.Value, s.Outcome, s.Err, rd.Reader, po)
			}
		}
	}
	r.ValuesRead = len(readAt)

	// Duplicates, in the order of the sends (then of values never sent,
	// sorted) so the examples do not depend on map order.
	dupValues := make([]string, 0)
	for v, at := range readAt {
		if len(at) > 1 {
			dupValues = append(dupValues, v)
		}
	}
	slices.Sort(dupValues)
	for _, v := range dupValues {
		at := slices.Clone(readAt[v])
		slices.SortFunc(at, comparePartOffset)
		tallies[KindDuplicated].add("%q at %v", v, at)
	}

	for _, s := range h.Sends {
		if s.Outcome != Acked {
			continue
		}
		at := readAt[s.Value]
		acked := partOffset{s.Partition, s.Offset}
		switch {
		case len(at) > 0:
			if s.Offset >= 0 && !slices.Contains(at, acked) && !inconsistent[acked] {
				inconsistent[acked] = true
				tallies[KindInconsistent].add("%q acknowledged at %v, read at %v", s.Value, acked, at)
			}
		case s.Offset >= 0 && inconsistent[acked]:
			// Its offset holds another value: counted once, as
			// inconsistent, not again as lost.
		case s.Offset >= 0 && hasMax(maxRead, s.Partition) && s.Offset < maxRead[s.Partition]:
			tallies[KindLost].add("%q acknowledged at %v, never read; partition %d read up to offset %d", s.Value, acked, s.Partition, maxRead[s.Partition])
		default:
			tallies[KindUnseen].add("%q acknowledged at %v, never read", s.Value, acked)
		}
	}

	checkOrder(h, tallies[KindReordered])
	checkCommits(h.Commits, tallies[KindCommitBackwards])

	r.OK = true
	for _, k := range Kinds {
		a := tallies[k].a
		r.Anomalies = append(r.Anomalies, a)
		if a.Count > 0 {
			r.OK = false
		}
	}
	return r
}

func hasMax(m map[int32]int64, p int32) bool {
	_, ok := m[p]
	return ok
}

func comparePartOffset(a, b partOffset) int {
	return cmp.Or(cmp.Compare(a.partition, b.partition), cmp.Compare(a.offset, b.offset))
}

// checkOrder looks, for each reader and partition, at the values of this
// run in offset order (each offset and each value once: re-reads and
// duplicates are not reorderings) for a producer's sequence going back.
// A reordered offset seen by several readers counts once.
func checkOrder(h *History, t *tally) {
	type readerPart struct {
		reader    string
		partition int32
	}
	byReader := map[readerPart][]Read{}
	var order []readerPart
	for _, rd := range h.Reads {
		if _, ok := parseValue(h.Run, rd.Value); !ok {
			continue
		}
		k := readerPart{rd.Reader, rd.Partition}
		if _, ok := byReader[k]; !ok {
			order = append(order, k)
		}
		byReader[k] = append(byReader[k], rd)
	}
	slices.SortFunc(order, func(a, b readerPart) int {
		return cmp.Or(cmp.Compare(a.partition, b.partition), cmp.Compare(a.reader, b.reader))
	})
	counted := map[partOffset]bool{}
	for _, k := range order {
		reads := byReader[k]
		slices.SortStableFunc(reads, func(a, b Read) int { return cmp.Compare(a.Offset, b.Offset) })
		type last struct {
			seq    int64
			offset int64
			value  string
		}
		lastOf := map[int]last{}
		values := map[string]bool{}
		prevOffset := int64(-1)
		for _, rd := range reads {
			if rd.Offset == prevOffset {
				continue
			}
			prevOffset = rd.Offset
			if values[rd.Value] {
				continue
			}
			values[rd.Value] = true
			id, _ := parseValue(h.Run, rd.Value)
			l, ok := lastOf[id.producer]
			po := partOffset{rd.Partition, rd.Offset}
			if ok && id.seq < l.seq && !counted[po] {
				counted[po] = true
				t.add("%q at %v after %q at %v (reader %s)", rd.Value, po, l.value, partOffset{rd.Partition, l.offset}, rd.Reader)
			}
			if !ok || id.seq > l.seq {
				lastOf[id.producer] = last{id.seq, rd.Offset, rd.Value}
			}
		}
	}
}

// checkCommits compares each observation of a group's committed offset of
// a partition with the highest one observed before it.
func checkCommits(commits []Commit, t *tally) {
	type groupPart struct {
		group     string
		partition int32
	}
	high := map[groupPart]int64{}
	for _, c := range commits {
		k := groupPart{c.Group, c.Partition}
		h, ok := high[k]
		switch {
		case c.Reset || !ok:
			high[k] = c.Offset
		case c.Offset < h:
			t.add("group %q partition %d: committed offset %d after %d", c.Group, c.Partition, c.Offset, h)
		default:
			high[k] = c.Offset
		}
	}
}
