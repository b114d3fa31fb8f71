package partition

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gregor-dev/gregor/internal/storage"
	"github.com/gregor-dev/gregor/internal/storagetest"
)

// FuzzPartitionProducerSnapshot reads arbitrary bytes as the producer-state
// snapshot. Nothing may panic; a snapshot readSnapshot rejects is rebuilt
// from the log by loadProducers (TestPartitionCorruptSnapshotFallsBackToLog);
// one it accepts must hold state the partition can use (entries under their
// own ids, each with one to maxCachedBatches batches, a non-negative offset)
// and round-trip: written by writeSnapshot and read again, the same state.
// (Not the same bytes: JSON allows other spellings of the same state, and
// writeSnapshot lists producers in map order.)
func FuzzPartitionProducerSnapshot(f *testing.F) {
	f.Add([]byte(`{"offset":3,"producers":[{"id":9,"epoch":0,"batches":[{"first_seq":0,"last_seq":2,"first_offset":0,"timestamp":1000}]}]}`))
	f.Add([]byte(`{"offset":0,"producers":[]}`))
	f.Add([]byte(`{"offset":7,"producers":[{"id":1,"epoch":2,"batches":[]},{"id":1,"epoch":3,"batches":[{"first_seq":5,"last_seq":5,"first_offset":6,"timestamp":-1}]}]}`))
	f.Add([]byte(`{not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := storagetest.NewCrashableMem()
		if err := storage.WriteFileAtomic(fs, filepath.Join("p", snapshotFile), data); err != nil {
			if err := fs.MkdirAll("p", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := storage.WriteFileAtomic(fs, filepath.Join("p", snapshotFile), data); err != nil {
				t.Fatal(err)
			}
		}
		off, ps, err := readSnapshot(fs, "p")
		if err != nil {
			if len(ps) != 0 {
				t.Fatalf("rejected snapshot left %d producers", len(ps))
			}
			return
		}
		if off < 0 {
			t.Fatalf("accepted offset %d", off)
		}
		for id, e := range ps {
			if e == nil || e.ID != id || len(e.Batches) == 0 || len(e.Batches) > maxCachedBatches {
				t.Fatalf("accepted producer %d: %+v", id, e)
			}
		}
		if err := writeSnapshot(fs, "p", off, ps); err != nil {
			t.Fatal(err)
		}
		off2, ps2, err := readSnapshot(fs, "p")
		if err != nil || off2 != off || !reflect.DeepEqual(ps2, ps) {
			t.Fatalf("snapshot (%d, %v) read back as (%d, %v), %v", off, ps, off2, ps2, err)
		}
	})
}
