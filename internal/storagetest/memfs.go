package storagetest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gregor-dev/gregor/internal/storage/vfs"
)

// MemFS is an in-memory vfs.FS that remembers what was made durable, so that
// a test can take the state a power loss would leave (CrashClone) and open
// the log again on it. It is safe for concurrent use.
//
// What it models, exactly:
//   - A file's contents are durable as of its last File.Sync: the crash state
//     of a file is the bytes it had then (all of them, whatever was written,
//     truncated or overwritten since). A file never synced is empty.
//     CrashOptions can instead keep a random part of bytes appended since the
//     last Sync, optionally garbled, as a disk that wrote part of its cache
//     would.
//   - A directory's entries are durable as of its last SyncDir: files
//     created, renamed in or out, or removed since are undone by a crash (a
//     rename between two directories is undone in each of them on its own).
//     A File.Sync does not make the file's name durable.
//   - Directories made by MkdirAll are durable at once, entry and all. This
//     is a simplification: storage.Open does not fsync the parent of the
//     directory it creates, so a strict model would lose whole new logs.
//   - Open files keep working after their name is removed or renamed, as on
//     POSIX: reads of a removed segment still in use succeed.
//   - Modification times, permissions and sizes are metadata that a crash
//     keeps as the contents it keeps imply; nothing else (no atime, links,
//     symlinks, or O_SYNC).
//
// Names are slash-separated; relative names are taken from the root.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
	now  func() time.Time
}

// memNode is a file or a directory. Its fields are guarded by MemFS.mu.
type memNode struct {
	dir     bool
	mode    os.FileMode
	modTime time.Time

	// Files.
	data   []byte
	synced []byte // the contents at the last Sync; never aliases data

	// Directories.
	children map[string]*memNode // as they are
	durable  map[string]*memNode // as of the last SyncDir
}

func newDir(mode os.FileMode, now time.Time) *memNode {
	return &memNode{dir: true, mode: mode | os.ModeDir, modTime: now, children: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// NewCrashableMem returns an empty MemFS with its root directory.
func NewCrashableMem() *MemFS {
	return &MemFS{root: newDir(0o755, time.Now()), now: time.Now}
}

// SetClock sets the clock for modification times (default time.Now).
func (m *MemFS) SetClock(now func() time.Time) {
	m.mu.Lock()
	m.now = now
	m.mu.Unlock()
}

// CrashOptions choose what a crash does to data written since the last
// fsync. The zero value drops all of it.
type CrashOptions struct {
	// Rand, when set, makes a crash keep a random-length prefix of the bytes
	// appended to each file since its last Sync (a file whose synced
	// contents are not a prefix of its contents, because it was truncated or
	// rewritten, goes back to its synced contents).
	Rand *rand.Rand
	// Garble, with Rand, flips one random byte of each kept unsynced part.
	Garble bool
}

// CrashClone returns a new MemFS holding what a power loss at this moment
// would leave on disk (see MemFS), everything in it durable. The receiver is
// unchanged and stays usable, so a log still running on it does not touch the
// clone.
func (m *MemFS) CrashClone(o CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*memNode]*memNode{} // a node reachable under two names stays one
	var clone func(n *memNode) *memNode
	clone = func(n *memNode) *memNode {
		if c, ok := seen[n]; ok {
			return c
		}
		c := &memNode{dir: n.dir, mode: n.mode, modTime: n.modTime}
		seen[n] = c
		if n.dir {
			c.children = make(map[string]*memNode, len(n.durable))
			// In name order: o.Rand is drawn per file, so a seed replays.
			for _, name := range slices.Sorted(maps.Keys(n.durable)) {
				c.children[name] = clone(n.durable[name])
			}
			c.durable = maps.Clone(c.children)
			return c
		}
		c.data = slices.Clone(n.synced)
		if o.Rand != nil && len(n.data) > len(n.synced) && bytes.HasPrefix(n.data, n.synced) {
			tail := n.data[len(n.synced):]
			kept := slices.Clone(tail[:o.Rand.IntN(len(tail)+1)])
			if o.Garble && len(kept) > 0 {
				kept[o.Rand.IntN(len(kept))] ^= byte(1 + o.Rand.IntN(255))
			}
			c.data = append(c.data, kept...)
		}
		c.synced = slices.Clone(c.data)
		return c
	}
	return &MemFS{root: clone(m.root), now: m.now}
}

// split turns a name into its path elements below the root.
func split(name string) []string {
	name = path.Clean("/" + filepath.ToSlash(name))
	if name == "/" {
		return nil
	}
	return strings.Split(name[1:], "/")
}

func pathErr(op, name string, err error) error { return &os.PathError{Op: op, Path: name, Err: err} }

// lookupLocked returns the node at name, or nil.
func (m *MemFS) lookupLocked(name string) *memNode {
	n := m.root
	for _, e := range split(name) {
		if !n.dir {
			return nil
		}
		if n = n.children[e]; n == nil {
			return nil
		}
	}
	return n
}

// parentLocked returns the directory holding name and name's last element.
func (m *MemFS) parentLocked(op, name string) (*memNode, string, error) {
	elems := split(name)
	if len(elems) == 0 {
		return nil, "", pathErr(op, name, os.ErrInvalid)
	}
	dir := m.lookupLocked(strings.Join(elems[:len(elems)-1], "/"))
	if dir == nil {
		return nil, "", pathErr(op, name, os.ErrNotExist)
	}
	if !dir.dir {
		return nil, "", pathErr(op, name, syscall.ENOTDIR)
	}
	return dir, elems[len(elems)-1], nil
}

// OpenFile opens name with os.OpenFile's flags O_RDONLY, O_WRONLY, O_RDWR,
// O_CREATE, O_EXCL, O_TRUNC and O_APPEND.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked("open", name)
	if err != nil {
		return nil, err
	}
	access := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	writable := access == os.O_WRONLY || access == os.O_RDWR
	n := dir.children[base]
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, os.ErrNotExist)
	case n == nil:
		n = &memNode{mode: perm, modTime: m.now()}
		dir.children[base] = n
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, pathErr("open", name, os.ErrExist)
	case n.dir && writable:
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	if writable && flag&os.O_TRUNC != 0 && len(n.data) > 0 {
		n.data = n.data[:0]
		n.modTime = m.now()
	}
	return &memFile{fs: m, n: n, name: name, flag: flag, writable: writable, readable: access != os.O_WRONLY}, nil
}

// Remove removes a file or an empty directory.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked("remove", name)
	if err != nil {
		return err
	}
	n := dir.children[base]
	switch {
	case n == nil:
		return pathErr("remove", name, os.ErrNotExist)
	case n.dir && len(n.children) > 0:
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(dir.children, base)
	return nil
}

// RemoveAll removes name and everything below it; an absent name is no
// error. Like Remove it is undone by a crash until the parent is synced.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked("removeall", name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	delete(dir.children, base)
	return nil
}

// Rename moves oldpath to newpath, replacing a file there.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	odir, obase, err := m.parentLocked("rename", oldpath)
	if err != nil {
		return err
	}
	n := odir.children[obase]
	if n == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrNotExist}
	}
	ndir, nbase, err := m.parentLocked("rename", newpath)
	if err != nil {
		return err
	}
	if old := ndir.children[nbase]; old != nil && old != n && (old.dir || n.dir) {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EEXIST}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

// MkdirAll makes name and its missing parents, durable at once.
func (m *MemFS) MkdirAll(name string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, e := range split(name) {
		c := n.children[e]
		switch {
		case c == nil:
			c = newDir(perm, m.now())
			n.children[e] = c
			n.durable[e] = c
		case !c.dir:
			return pathErr("mkdir", name, syscall.ENOTDIR)
		}
		n = c
	}
	return nil
}

// ReadDir lists a directory sorted by name.
func (m *MemFS) ReadDir(name string) ([]os.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.lookupLocked(name)
	switch {
	case n == nil:
		return nil, pathErr("readdir", name, os.ErrNotExist)
	case !n.dir:
		return nil, pathErr("readdir", name, syscall.ENOTDIR)
	}
	out := make([]os.DirEntry, 0, len(n.children))
	for _, e := range slices.Sorted(maps.Keys(n.children)) {
		out = append(out, fs.FileInfoToDirEntry(n.children[e].info(e)))
	}
	return out, nil
}

// Stat describes name.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.lookupLocked(name)
	if n == nil {
		return nil, pathErr("stat", name, os.ErrNotExist)
	}
	return n.info(path.Base("/" + filepath.ToSlash(name))), nil
}

// SyncDir makes the directory's current entries durable.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.lookupLocked(name)
	switch {
	case n == nil:
		return pathErr("sync", name, os.ErrNotExist)
	case !n.dir:
		return pathErr("sync", name, syscall.ENOTDIR)
	}
	n.durable = maps.Clone(n.children)
	return nil
}

// Chtimes sets a file's modification time (the access time is not kept).
func (m *MemFS) Chtimes(name string, atime, mtime time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.lookupLocked(name)
	if n == nil {
		return pathErr("chtimes", name, os.ErrNotExist)
	}
	n.modTime = mtime
	return nil
}

// ReadFile returns a copy of a file's current contents (for test checks).
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.lookupLocked(name)
	switch {
	case n == nil:
		return nil, pathErr("read", name, os.ErrNotExist)
	case n.dir:
		return nil, pathErr("read", name, syscall.EISDIR)
	}
	return slices.Clone(n.data), nil
}

func (n *memNode) info(name string) os.FileInfo {
	return memInfo{name: name, size: int64(len(n.data)), mode: n.mode, modTime: n.modTime}
}

type memInfo struct {
	name    string
	size    int64
	mode    os.FileMode
	modTime time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() os.FileMode  { return i.mode }
func (i memInfo) ModTime() time.Time { return i.modTime }
func (i memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i memInfo) Sys() any           { return nil }

// memFile is an open MemFS file. Its state is guarded by MemFS.mu.
type memFile struct {
	fs                 *MemFS
	n                  *memNode
	name               string
	flag               int
	readable, writable bool
	off                int64 // where the next Write goes without O_APPEND
	closed             bool
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) check(op string, write bool) error {
	switch {
	case f.closed:
		return pathErr(op, f.name, os.ErrClosed)
	case write && !f.writable, !write && !f.readable:
		return pathErr(op, f.name, syscall.EBADF)
	case f.n.dir:
		return pathErr(op, f.name, syscall.EISDIR)
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("read", f.name, os.ErrInvalid)
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	n := f.n
	if f.flag&os.O_APPEND != 0 {
		n.data = append(n.data, p...)
	} else {
		if end := f.off + int64(len(p)); end > int64(len(n.data)) {
			n.data = append(n.data, make([]byte, end-int64(len(n.data)))...)
		}
		copy(n.data[f.off:], p)
		f.off += int64(len(p))
	}
	n.modTime = f.fs.now()
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed { // any open mode may fsync, as on POSIX
		return pathErr("sync", f.name, os.ErrClosed)
	}
	if !f.n.dir {
		f.n.synced = append(f.n.synced[:0], f.n.data...)
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, os.ErrInvalid)
	}
	n := f.n
	if size <= int64(len(n.data)) {
		n.data = n.data[:size]
	} else {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	n.modTime = f.fs.now()
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return nil, pathErr("stat", f.name, os.ErrClosed)
	}
	return f.n.info(path.Base("/" + filepath.ToSlash(f.name))), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, os.ErrClosed)
	}
	f.closed = true
	return nil
}
