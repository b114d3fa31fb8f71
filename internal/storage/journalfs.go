package storage

// A file system that journals what it made durable, for power-loss tests of
// whole broker processes: a broker started with a sync journal writes a line
// to it after every successful fsync of a file (its size then), rename and
// removal; after a SIGKILL, ApplyPowerLoss cuts every file of the data
// directory back to its last synced size, as a power loss would have left
// it. The model is the file data only: renames and removals count as
// durable when they return (directory fsyncs are not modelled), and files
// outside the journal's knowledge (the metadata quorum's, which its own
// library fsyncs) are left alone by the caller's choice of directory.
//
// Journal lines: "S <size> <path>", "R <old path>\t<new path>", "D <path>".

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// JournalFS is FS (the OS) journaling its syncs to a file.
type JournalFS struct {
	FS
	mu sync.Mutex
	j  *os.File
}

// NewJournalFS opens (appending) the journal at path over the OS file
// system.
func NewJournalFS(path string) (*JournalFS, error) {
	j, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: sync journal: %w", err)
	}
	return &JournalFS{FS: OS, j: j}, nil
}

func (fs *JournalFS) record(format string, args ...any) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fmt.Fprintf(fs.j, format+"\n", args...)
}

// OpenFile implements FS.
func (fs *JournalFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := fs.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(name)
	return &journalFile{File: f, fs: fs, path: abs}, nil
}

// Rename implements FS.
func (fs *JournalFS) Rename(oldpath, newpath string) error {
	if err := fs.FS.Rename(oldpath, newpath); err != nil {
		return err
	}
	o, _ := filepath.Abs(oldpath)
	n, _ := filepath.Abs(newpath)
	fs.record("R %s\t%s", o, n)
	return nil
}

// Remove implements FS.
func (fs *JournalFS) Remove(name string) error {
	if err := fs.FS.Remove(name); err != nil {
		return err
	}
	p, _ := filepath.Abs(name)
	fs.record("D %s", p)
	return nil
}

// RemoveAll implements FS.
func (fs *JournalFS) RemoveAll(path string) error {
	if err := fs.FS.RemoveAll(path); err != nil {
		return err
	}
	p, _ := filepath.Abs(path)
	fs.record("D %s", p)
	return nil
}

type journalFile struct {
	File
	fs   *JournalFS
	path string
}

func (f *journalFile) Sync() error {
	if err := f.File.Sync(); err != nil {
		return err
	}
	fi, err := f.File.Stat()
	if err != nil {
		return err
	}
	f.fs.record("S %d %s", fi.Size(), f.path)
	return nil
}

// OSFile is the file under the journal, for sendfile.
func (f *journalFile) OSFile() *os.File {
	osf, _ := f.File.(*os.File)
	return osf
}

// PowerLoss is what ApplyPowerLoss did.
type PowerLoss struct {
	Files     int   // files cut back
	BytesLost int64 // bytes past their synced size
}

// ApplyPowerLoss cuts every regular file under dir (except skip, relative
// names of files or directories) back to the size the journal at journal
// last saw synced (0 when never); with rng set, a random part of the
// unsynced tail survives, its last surviving byte possibly flipped.
func ApplyPowerLoss(journal, dir string, skip []string, rng *rand.Rand) (PowerLoss, error) {
	synced, err := readJournal(journal)
	if err != nil {
		return PowerLoss{}, err
	}
	var pl PowerLoss
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+string(filepath.Separator)) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.IsDir() {
			return nil
		}
		abs, _ := filepath.Abs(path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		keep := synced[abs]
		if fi.Size() <= keep {
			return nil
		}
		if rng != nil {
			keep += rng.Int64N(fi.Size() - keep + 1)
		}
		if err := os.Truncate(path, keep); err != nil {
			return err
		}
		if rng != nil && keep > synced[abs] && rng.IntN(2) == 0 {
			if err := flipByte(path, keep-1); err != nil {
				return err
			}
		}
		pl.Files++
		pl.BytesLost += fi.Size() - keep
		return nil
	})
	return pl, err
}

func flipByte(path string, at int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		return err
	}
	b[0] ^= 0x5a
	_, err = f.WriteAt(b, at)
	return err
}

// readJournal replays a sync journal into the last synced size per path.
func readJournal(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	synced := map[string]int64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 2 {
			continue
		}
		arg := line[2:]
		switch line[0] {
		case 'S':
			size, p, ok := strings.Cut(arg, " ")
			n, err := strconv.ParseInt(size, 10, 64)
			if ok && err == nil {
				synced[p] = n
			}
		case 'R':
			if o, n, ok := strings.Cut(arg, "\t"); ok {
				for p, size := range synced { // a directory or a file
					if p == o || strings.HasPrefix(p, o+string(filepath.Separator)) {
						delete(synced, p)
						synced[n+strings.TrimPrefix(p, o)] = size
					}
				}
			}
		case 'D':
			for p := range synced {
				if p == arg || strings.HasPrefix(p, arg+string(filepath.Separator)) {
					delete(synced, p)
				}
			}
		}
	}
	return synced, sc.Err()
}
