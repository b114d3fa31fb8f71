package storage

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// A journaled file cut back by ApplyPowerLoss keeps exactly what was synced;
// renames carry the synced size, removals drop it, a file never synced is
// emptied, skipped paths are left alone.
func TestStorageJournalPowerLoss(t *testing.T) {
	dir := t.TempDir()
	journal := filepath.Join(t.TempDir(), "journal")
	fs, err := NewJournalFS(journal)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data string, sync bool) {
		f, err := fs.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(data))
		if sync {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
	write("a", "0123456789", true)
	write("a", "unsynced", false)
	write("tmp", "checkpoint", true)
	if err := fs.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	write("c", "never synced", false)
	write("gone", "x", true)
	if err := fs.Remove(filepath.Join(dir, "gone")); err != nil {
		t.Fatal(err)
	}
	write("gone", "again", false) // a new file of the same name: not synced
	os.MkdirAll(filepath.Join(dir, "meta"), 0o755)
	os.WriteFile(filepath.Join(dir, "meta", "raft.db"), []byte("the library's own"), 0o644)
	pl, err := ApplyPowerLoss(journal, dir, []string{"meta"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "0123456789", "b": "checkpoint", "c": "", "gone": "", "meta/raft.db": "the library's own"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s after power loss: %q %v, want %q", name, got, err, want)
		}
	}
	if pl.Files != 3 || pl.BytesLost != int64(len("unsynced")+len("never synced")+len("again")) {
		t.Errorf("report %+v", pl)
	}
	// With a random survival, what is kept is at least the synced prefix.
	write("a", "more", false)
	if _, err := ApplyPowerLoss(journal, dir, []string{"meta"}, rand.New(rand.NewPCG(1, 2))); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "a")); fi.Size() < 10 || fi.Size() > 14 {
		t.Errorf("random survival kept %d bytes", fi.Size())
	}
}
