package controller

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestControllerAssign(t *testing.T) {
	tests := []struct {
		name        string
		racks       []string // per broker 1..n
		fenced      []int32
		shutdown    []int32
		partitions  int32
		rf          int16
		start       int
		evenFollows bool // every broker holds the same number of follower replicas
	}{
		{name: "3 brokers rf 3", racks: make([]string, 3), partitions: 3, rf: 3, evenFollows: true},
		{name: "5 brokers rf 3", racks: make([]string, 5), partitions: 10, rf: 3, evenFollows: true},
		{name: "5 brokers rf 3 start aligned", racks: make([]string, 5), partitions: 20, rf: 3, start: 15, evenFollows: true},
		{name: "5 brokers rf 2 start 7", racks: make([]string, 5), partitions: 20, rf: 2, start: 7},
		{name: "4 brokers rf 4 many", racks: make([]string, 4), partitions: 48, rf: 4, evenFollows: true},
		{name: "4 brokers rf 1", racks: make([]string, 4), partitions: 8, rf: 1, start: 3, evenFollows: true},
		{name: "1 broker", racks: make([]string, 1), partitions: 4, rf: 1, evenFollows: true},
		{name: "odd partition count", racks: make([]string, 4), partitions: 7, rf: 2, start: 2},
		{name: "fenced and shutting down skipped", racks: make([]string, 6), fenced: ids(2, 5), shutdown: ids(6), partitions: 9, rf: 3, evenFollows: true},
		{name: "3 racks x 2", racks: []string{"a", "a", "b", "b", "c", "c"}, partitions: 24, rf: 3},
		{name: "3 racks x 2 start 5", racks: []string{"a", "b", "c", "a", "b", "c"}, partitions: 30, rf: 3, start: 5},
		{name: "3 racks x 2 rf 2", racks: []string{"c", "b", "a", "c", "b", "a"}, partitions: 12, rf: 2, start: 1},
		{name: "uneven racks", racks: []string{"a", "a", "a", "b"}, partitions: 12, rf: 2},
		{name: "2 racks rf 3", racks: []string{"a", "b", "a", "b"}, partitions: 16, rf: 3, start: 3},
		{name: "racks with a fenced broker", racks: []string{"a", "a", "b", "b", "c", "c"}, fenced: ids(3), partitions: 10, rf: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var recs []Record
			for i, r := range tc.racks {
				recs = append(recs, regRec(int32(i+1), r))
			}
			for _, id := range tc.fenced {
				recs = append(recs, fenceRec(id))
			}
			for _, id := range tc.shutdown {
				recs = append(recs, shutdownRec(id))
			}
			img := build(t, recs...)
			live := img.LiveBrokers()
			racks := map[string]bool{}
			for _, b := range live {
				racks[b.Rack] = true
			}
			a, err := Assign(img, tc.partitions, tc.rf, tc.start)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != int(tc.partitions) {
				t.Fatalf("%d partitions, want %d", len(a), tc.partitions)
			}
			leaders, follows := map[int32]int{}, map[int32]int{}
			for p, rs := range a {
				if len(rs) != int(tc.rf) {
					t.Fatalf("partition %d: replicas %v, want %d", p, rs, tc.rf)
				}
				seen, rackSeen := map[int32]bool{}, map[string]bool{}
				for _, r := range rs {
					if seen[r] {
						t.Fatalf("partition %d: replicas %v repeat %d", p, rs, r)
					}
					if !img.Live(r) {
						t.Fatalf("partition %d: replicas %v include broker %d which is not live", p, rs, r)
					}
					seen[r], rackSeen[img.Brokers[r].Rack] = true, true
				}
				// As many racks as the replicas can cover.
				if want := min(int(tc.rf), len(racks)); len(rackSeen) != want {
					t.Fatalf("partition %d: replicas %v span %d racks, want %d", p, rs, len(rackSeen), want)
				}
				leaders[rs[0]]++
				for _, r := range rs[1:] {
					follows[r]++
				}
			}
			// Leaders always rotate over the live brokers.
			checkSpread(t, "leaders", leaders, live, int(tc.partitions))
			if tc.evenFollows {
				checkSpread(t, "followers", follows, live, int(tc.partitions)*(int(tc.rf)-1))
			} else {
				for _, b := range live {
					if tc.rf > 1 && int(tc.partitions) >= len(live) && follows[b.ID] == 0 {
						t.Fatalf("broker %d follows nothing: %v", b.ID, follows)
					}
				}
			}
			// The same placement, whichever way the partitions are cut.
			all, err := Assign(img, tc.partitions+int32(tc.start), tc.rf, 0)
			if err != nil {
				t.Fatal(err)
			}
			for p, rs := range a {
				if !slices.Equal(rs, all[tc.start+p]) {
					t.Fatalf("partition %d from %d: %v, but %v from 0", p, tc.start, rs, all[tc.start+p])
				}
			}
		})
	}
}

// checkSpread checks the counts of the live brokers differ by at most one
// (none when total divides evenly) and that no one else is counted.
func checkSpread(t *testing.T, what string, counts map[int32]int, live []*Broker, total int) {
	t.Helper()
	lo, hi, sum := total, 0, 0
	for _, b := range live {
		lo, hi = min(lo, counts[b.ID]), max(hi, counts[b.ID])
		sum += counts[b.ID]
	}
	if sum != total || hi-lo > 1 || total%len(live) == 0 && hi != lo {
		t.Fatalf("%s spread unevenly: %v over %d live brokers (total %d)", what, counts, len(live), total)
	}
}

func TestControllerAssignStartRotatesLeaders(t *testing.T) {
	img := build(t, concat(regRecs(4), []Record{fenceRec(3)})...)
	want := []int32{1, 2, 4, 1, 2, 4, 1}
	for start, w := range want {
		a, err := Assign(img, 1, 2, start)
		if err != nil {
			t.Fatal(err)
		}
		if a[0][0] != w {
			t.Fatalf("start %d: leader %d, want %d", start, a[0][0], w)
		}
	}
	// Successive topics of one partition each do not pile up on broker 1.
	img = build(t, regRecs(3)...)
	for i := range 6 {
		a, err := Assign(img, 1, 1, img.PartitionCount())
		if err != nil {
			t.Fatal(err)
		}
		img = applyAll(t, img, []Record{topicRec(fmt.Sprint("t", i), NewPartitions(a)...)})
	}
	if c := LeaderCount(img); c[1] != 2 || c[2] != 2 || c[3] != 2 {
		t.Fatalf("leaders of 6 one-partition topics: %v", c)
	}
}

func TestControllerAssignErrors(t *testing.T) {
	img := build(t, concat(regRecs(4), []Record{fenceRec(2), shutdownRec(3)})...)
	for _, rf := range []int16{3, 4, 5, 0, -1} {
		if a, err := Assign(img, 3, rf, 0); !errors.Is(err, ErrInvalidReplicationFactor) {
			t.Errorf("rf %d with 2 live brokers: %v, %v; want ErrInvalidReplicationFactor", rf, a, err)
		}
	}
	if a, err := Assign(NewImage(), 1, 1, 0); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Errorf("no brokers: %v, %v; want ErrInvalidReplicationFactor", a, err)
	}
	if _, err := Assign(img, 3, 2, 0); err != nil {
		t.Errorf("rf 2 with 2 live brokers: %v", err)
	}
}

func TestControllerNewPartitions(t *testing.T) {
	got := NewPartitions([][]int32{{2, 3, 1}, {3, 1, 2}})
	want := []Partition{
		{Replicas: ids(2, 3, 1), ISR: ids(2, 3, 1), Leader: 2},
		{Replicas: ids(3, 1, 2), ISR: ids(3, 1, 2), Leader: 3},
	}
	for i := range want {
		if g, w := got[i], want[i]; !slices.Equal(g.Replicas, w.Replicas) || !slices.Equal(g.ISR, w.ISR) || g.Leader != w.Leader || g.LeaderEpoch != 0 || g.PartitionEpoch != 0 {
			t.Fatalf("partition %d: %+v, want %+v", i, g, w)
		}
	}
	got[0].ISR[0] = 9
	if got[0].Replicas[0] != 2 {
		t.Fatal("ISR and replicas share memory")
	}
}
