package metrics

import "testing"

type fakeView struct{ parts []PartitionState }

func (v fakeView) Partitions() []PartitionState { return v.parts }
func (fakeView) Controller() (bool, int)        { return false, 0 }
func (fakeView) GroupLags() []GroupLag          { return nil }

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
