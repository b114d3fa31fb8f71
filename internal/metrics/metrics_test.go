package metrics

import "testing"

type fakeView struct{ parts []PartitionState }

func (v fakeView) Partitions() []PartitionState  { return v.parts }
func (fakeView) Controller() (bool, int)         { return false, 0 }
func (fakeView) GroupLags() []GroupLag           { return nil }
func (fakeView) SegmentFiles() (int, int, int64) { return 3, 10, 7 }
func (fakeView) FetchSessions() int              { return 4 }

// The scrubber's findings: a counter by topic and a gauge of damaged
// local replicas.
func TestMetricsStorageDamage(t *testing.T) {
	m := New(fakeView{[]PartitionState{{Topic: "a", Partition: 0, Damaged: true}, {Topic: "a", Partition: 1}, {Topic: "b", Damaged: true}}})
	m.Damage("a", 0, 2)
	m.Damage("a", 0, 1)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "gregor_storage_damaged_partitions":
			if got := mf.GetMetric()[0].GetGauge().GetValue(); got != 2 {
				t.Fatalf("gregor_storage_damaged_partitions = %v, want 2", got)
			}
			found++
		case "gregor_storage_corrupt_batches_total":
			if ms := mf.GetMetric(); len(ms) != 1 || ms[0].GetCounter().GetValue() != 3 || ms[0].GetLabel()[0].GetValue() != "a" {
				t.Fatalf("gregor_storage_corrupt_batches_total = %v, want 3 for a", ms)
			}
			found++
		}
	}
	if found != 2 {
		t.Fatalf("%d of the 2 storage damage metrics", found)
	}
}

// The segment file pool: open files and cap as gauges, evictions as a
// counter, from the view; and the fetch sessions cached.
func TestMetricsSegmentFiles(t *testing.T) {
	mfs, err := New(fakeView{}).Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"gregor_storage_open_segment_files":                          3,
		"gregor_storage_open_segment_files_max":                      10,
		"gregor_storage_segment_file_evictions_total":                7,
		"kafka_server_fetchsessioncache_numincrementalfetchsessions": 4,
	}
	for _, mf := range mfs {
		w, ok := want[mf.GetName()]
		if !ok {
			continue
		}
		m := mf.GetMetric()[0]
		got := m.GetGauge().GetValue()
		if m.GetCounter() != nil {
			got = m.GetCounter().GetValue()
		}
		if got != w {
			t.Errorf("%s = %v, want %v", mf.GetName(), got, w)
		}
		delete(want, mf.GetName())
	}
	if len(want) > 0 {
		t.Errorf("missing: %v", want)
	}
}
