package storagetest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/gregor-dev/gregor/internal/storage"
	"github.com/gregor-dev/gregor/internal/storage/vfs"
)

var (
	_ storage.FS = (*MemFS)(nil)
	_ storage.FS = (*FaultFS)(nil)
)

const appendFlags = os.O_RDWR | os.O_CREATE | os.O_APPEND

func mustOpenFile(t *testing.T, fs vfs.FS, name string, flag int) vfs.File {
	t.Helper()
	f, err := fs.OpenFile(name, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustDo(t *testing.T, errs ...error) {
	t.Helper()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// write creates (or appends to) name with data, syncing the file and the
// directory as asked.
func write(t *testing.T, m *MemFS, name, data string, syncFile, syncDir bool) {
	t.Helper()
	f := mustOpenFile(t, m, name, appendFlags)
	_, err := f.Write([]byte(data))
	mustDo(t, err)
	if syncFile {
		mustDo(t, f.Sync())
	}
	mustDo(t, f.Close())
	if syncDir {
		mustDo(t, m.SyncDir("/d"))
	}
}

// TestStoragetestMemFSCrash checks what CrashClone keeps after each kind of
// operation, synced or not.
func TestStoragetestMemFSCrash(t *testing.T) {
	cases := []struct {
		name string
		do   func(t *testing.T, m *MemFS)
		want map[string]string // files of /d after the crash
	}{
		{"created, nothing synced", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", false, false)
		}, map[string]string{}},
		{"file synced, directory not", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", true, false)
		}, map[string]string{}},
		{"directory synced, file not", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", false, true)
		}, map[string]string{"a": ""}},
		{"both synced", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", true, true)
		}, map[string]string{"a": "x"}},
		{"appended after the sync", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", true, true)
			write(t, m, "/d/a", "yz", false, false)
		}, map[string]string{"a": "x"}},
		{"truncated after the sync", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "xyz", true, true)
			f := mustOpenFile(t, m, "/d/a", os.O_RDWR)
			mustDo(t, f.Truncate(1), f.Close())
		}, map[string]string{"a": "xyz"}},
		{"truncated and synced", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "xyz", true, true)
			f := mustOpenFile(t, m, "/d/a", os.O_RDWR)
			mustDo(t, f.Truncate(1), f.Sync(), f.Close())
		}, map[string]string{"a": "x"}},
		{"removed, directory not synced", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", true, true)
			mustDo(t, m.Remove("/d/a"))
		}, map[string]string{"a": "x"}},
		{"removed and synced", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", true, true)
			mustDo(t, m.Remove("/d/a"), m.SyncDir("/d"))
		}, map[string]string{}},
		{"renamed, directory not synced", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", true, true)
			mustDo(t, m.Rename("/d/a", "/d/b"))
		}, map[string]string{"a": "x"}},
		{"renamed and synced", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", true, true)
			mustDo(t, m.Rename("/d/a", "/d/b"), m.SyncDir("/d"))
		}, map[string]string{"b": "x"}},
		{"atomic replace, directory not synced", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "old", true, true)
			write(t, m, "/d/a.tmp", "new", true, false)
			mustDo(t, m.Rename("/d/a.tmp", "/d/a"))
		}, map[string]string{"a": "old"}},
		{"atomic replace", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "old", true, true)
			write(t, m, "/d/a.tmp", "new", true, false)
			mustDo(t, m.Rename("/d/a.tmp", "/d/a"), m.SyncDir("/d"))
		}, map[string]string{"a": "new"}},
		{"rewritten in place after O_TRUNC", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "old", true, true)
			f := mustOpenFile(t, m, "/d/a", os.O_WRONLY|os.O_TRUNC)
			_, err := f.Write([]byte("n"))
			mustDo(t, err, f.Close())
		}, map[string]string{"a": "old"}},
		{"removed directory tree, parent not synced", func(t *testing.T, m *MemFS) {
			write(t, m, "/d/a", "x", true, true)
			mustDo(t, m.RemoveAll("/d"))
		}, map[string]string{"a": "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewCrashableMem()
			mustDo(t, m.MkdirAll("/d", 0o755))
			tc.do(t, m)
			c := m.CrashClone(CrashOptions{})
			ents, err := c.ReadDir("/d")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range ents {
				data, err := c.ReadFile("/d/" + e.Name())
				mustDo(t, err)
				got[e.Name()] = string(data)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("after the crash %q, want %q", got, tc.want)
			}
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Fatalf("after the crash %q, want %q", got, tc.want)
				}
			}
			// The clone is durable as it is: a second crash changes nothing.
			again, _ := c.CrashClone(CrashOptions{}).ReadDir("/d")
			if len(again) != len(ents) {
				t.Fatalf("second crash: %d entries, want %d", len(again), len(ents))
			}
		})
	}
}

// With a Rand, a crash keeps a prefix of the unsynced appended bytes, of
// every length over enough seeds; Garble changes exactly one kept byte.
func TestStoragetestMemFSCrashKeepsUnsyncedPrefix(t *testing.T) {
	const synced, unsynced = "0123", "456789"
	for _, garble := range []bool{false, true} {
		lengths := map[int]bool{}
		for seed := uint64(0); seed < 200; seed++ {
			m := NewCrashableMem()
			mustDo(t, m.MkdirAll("/d", 0o755))
			write(t, m, "/d/a", synced, true, true)
			write(t, m, "/d/a", unsynced, false, false)
			got, err := m.CrashClone(CrashOptions{Rand: rand.New(rand.NewPCG(seed, 1)), Garble: garble}).ReadFile("/d/a")
			mustDo(t, err)
			if !bytes.HasPrefix(got, []byte(synced)) || len(got) > len(synced+unsynced) {
				t.Fatalf("seed %d: kept %q", seed, got)
			}
			tail, want := got[len(synced):], []byte(unsynced)[:len(got)-len(synced)]
			diff := 0
			for i := range tail {
				if tail[i] != want[i] {
					diff++
				}
			}
			if wantDiff := map[bool]int{false: 0, true: min(len(tail), 1)}[garble]; diff != wantDiff {
				t.Fatalf("seed %d garble %v: kept %q, %d bytes differ", seed, garble, got, diff)
			}
			lengths[len(tail)] = true
		}
		if len(lengths) != len(unsynced)+1 {
			t.Fatalf("garble %v: kept lengths %v, want all of 0..%d", garble, lengths, len(unsynced))
		}
	}
	// A rewritten file goes back to its synced contents.
	m := NewCrashableMem()
	mustDo(t, m.MkdirAll("/d", 0o755))
	write(t, m, "/d/a", synced, true, true)
	f := mustOpenFile(t, m, "/d/a", os.O_RDWR)
	mustDo(t, f.Truncate(2), f.Close())
	write(t, m, "/d/a", "xxxxxxxx", false, false)
	got, _ := m.CrashClone(CrashOptions{Rand: rand.New(rand.NewPCG(1, 1))}).ReadFile("/d/a")
	if string(got) != synced {
		t.Fatalf("rewritten file after the crash: %q, want %q", got, synced)
	}
}

// Files behave as the log expects of an OS file system.
func TestStoragetestMemFSFiles(t *testing.T) {
	m := NewCrashableMem()
	mustDo(t, m.MkdirAll("/d/e", 0o755))
	if _, err := m.OpenFile("/d/missing", os.O_RDONLY, 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open of a missing file: %v", err)
	}
	if _, err := m.OpenFile("/nodir/a", appendFlags, 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("create in a missing directory: %v", err)
	}
	f := mustOpenFile(t, m, "/d/a", appendFlags)
	if _, err := m.OpenFile("/d/a", appendFlags|os.O_EXCL, 0o644); !errors.Is(err, os.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %v", err)
	}
	for _, s := range []string{"abc", "def"} {
		_, err := f.Write([]byte(s))
		mustDo(t, err)
	}
	buf := make([]byte, 4)
	if n, err := f.ReadAt(buf, 4); n != 2 || err != io.EOF || string(buf[:n]) != "ef" {
		t.Fatalf("ReadAt past the end: %d %v %q", n, err, buf[:n])
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 6 || fi.Name() != "a" {
		t.Fatalf("Stat: %v %v", fi, err)
	}
	// An open file survives the removal of its name.
	mustDo(t, m.Remove("/d/a"))
	if n, err := f.ReadAt(buf[:3], 0); n != 3 || err != nil || string(buf[:3]) != "abc" {
		t.Fatalf("read of a removed file: %d %v", n, err)
	}
	mustDo(t, f.Close())
	if _, err := f.ReadAt(buf, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	ro := mustOpenFile(t, m, "/d/b", appendFlags)
	mustDo(t, ro.Close())
	ro = mustOpenFile(t, m, "/d/b", os.O_RDONLY)
	if _, err := ro.Write([]byte("x")); err == nil {
		t.Fatal("write to a read-only file")
	}
	if err := m.Remove("/d"); err == nil {
		t.Fatal("removed a directory that is not empty")
	}
	ents, err := m.ReadDir("/d")
	mustDo(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"b", "e"}) || !ents[1].IsDir() {
		t.Fatalf("ReadDir: %v", names)
	}
	// The clone is independent of the original.
	mustDo(t, m.SyncDir("/d"))
	c := m.CrashClone(CrashOptions{})
	mustDo(t, m.Remove("/d/b"), m.SyncDir("/d"))
	if _, err := c.Stat("/d/b"); err != nil {
		t.Fatalf("clone changed with the original: %v", err)
	}
}

// FaultFS over a MemFS injects errors into a crashable disk.
func TestStoragetestFaultFSOverMemFS(t *testing.T) {
	m := NewCrashableMem()
	mustDo(t, m.MkdirAll("/d", 0o755))
	ffs := NewFaultFS(m)
	ffs.InjectError(OpSync, "*.log", 2, nil)
	f := mustOpenFile(t, ffs, "/d/0.log", appendFlags)
	_, err := f.Write([]byte("ab"))
	mustDo(t, err, f.Sync(), ffs.SyncDir("/d"))
	_, err = f.Write([]byte("cd"))
	mustDo(t, err)
	if err := f.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("second sync: %v, want the injected error", err)
	}
	if n := ffs.Count(OpSync, "*.log"); n != 2 {
		t.Fatalf("%d syncs counted", n)
	}
	got, _ := m.CrashClone(CrashOptions{}).ReadFile("/d/0.log")
	if string(got) != "ab" {
		t.Fatalf("after the crash %q, want what the first sync covered", got)
	}
}

// A hook runs after the operation took effect, before it returns.
func TestStoragetestFaultFSHook(t *testing.T) {
	m := NewCrashableMem()
	mustDo(t, m.MkdirAll("/d", 0o755))
	ffs := NewFaultFS(m)
	f := mustOpenFile(t, ffs, "/d/0.log", appendFlags)
	mustDo(t, ffs.SyncDir("/d"))
	var seen []string
	ffs.InjectHook(OpSync, "*.log", 1, func() {
		got, _ := m.CrashClone(CrashOptions{}).ReadFile("/d/0.log")
		seen = append(seen, string(got))
	})
	_, err := f.Write([]byte("ab"))
	mustDo(t, err, f.Sync())
	_, err = f.Write([]byte("cd"))
	mustDo(t, err, f.Sync())
	if !slices.Equal(seen, []string{"ab"}) {
		t.Fatalf("hook saw %q, want one call after the first sync took effect", seen)
	}
}
