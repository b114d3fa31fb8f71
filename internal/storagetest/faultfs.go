package storagetest

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gregor-dev/gregor/internal/storage/vfs"
)

// ErrInjected is the error FaultFS injects when none is given.
var ErrInjected = errors.New("storagetest: injected fault")

// Op is a kind of file system operation FaultFS can fail or count.
type Op int

const (
	OpWrite Op = iota
	OpSync
	OpTruncate
	OpOpen
	OpRemove
	OpRename
	OpSyncDir
)

// FaultFS wraps an FS and fails chosen operations, for tests of storage and
// of its users. Patterns use filepath.Match syntax against the file's
// base name ("*.log", "*.index", "leader-epoch-checkpoint*"). A failing write
// first writes half its bytes, as a torn write would. It is safe for
// concurrent use.
type FaultFS struct {
	base vfs.FS

	mu     sync.Mutex
	faults []*fault
	counts map[opName]int64
}

type fault struct {
	op      Op
	pattern string
	left    int
	err     error  // nil for a hook
	hook    func() // runs after the operation
}

type opName struct {
	op   Op
	name string
}

// NewFaultFS wraps base.
func NewFaultFS(base vfs.FS) *FaultFS {
	return &FaultFS{base: base, counts: make(map[opName]int64)}
}

// InjectError makes the nth (1 = the next) op on a file whose base name
// matches pattern fail once with err (ErrInjected if nil).
func (f *FaultFS) InjectError(op Op, pattern string, n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	if n < 1 {
		n = 1
	}
	f.mu.Lock()
	f.faults = append(f.faults, &fault{op: op, pattern: pattern, left: n, err: err})
	f.mu.Unlock()
}

// InjectHook makes the nth (1 = the next) op on a file whose base name
// matches pattern call hook once the operation is done, before it returns
// to its caller. A hook that blocks (on a channel the test controls) holds
// the caller there: an fsync paused after it took effect stands for one
// that started before writes made while it is held.
func (f *FaultFS) InjectHook(op Op, pattern string, n int, hook func()) {
	if n < 1 {
		n = 1
	}
	f.mu.Lock()
	f.faults = append(f.faults, &fault{op: op, pattern: pattern, left: n, hook: hook})
	f.mu.Unlock()
}

// Count reports how many op operations (failed ones included) went to files
// whose base name matches pattern.
func (f *FaultFS) Count(op Op, pattern string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for k, c := range f.counts {
		if k.op == op && match(pattern, k.name) {
			n += c
		}
	}
	return n
}

func match(pattern, name string) bool {
	ok, err := filepath.Match(pattern, filepath.Base(name))
	return ok && err == nil
}

// check counts the operation and returns the injected error, if one is
// due, and the hook to run after it, if one is due.
func (f *FaultFS) check(op Op, name string) (hook func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[opName{op, name}]++
	for i := 0; i < len(f.faults); i++ {
		ft := f.faults[i]
		if ft.op != op || !match(ft.pattern, name) {
			continue
		}
		if ft.left--; ft.left > 0 {
			continue
		}
		f.faults = append(f.faults[:i], f.faults[i+1:]...)
		i--
		if ft.hook == nil {
			return hook, ft.err
		}
		hook = ft.hook
	}
	return hook, nil
}

// after runs a hook check returned, once the operation is done.
func after(hook func()) {
	if hook != nil {
		hook()
	}
}

func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	hook, err := f.check(OpOpen, name)
	defer after(hook)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	file, err := f.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *FaultFS) Remove(name string) error {
	hook, err := f.check(OpRemove, name)
	defer after(hook)
	if err != nil {
		return err
	}
	return f.base.Remove(name)
}

func (f *FaultFS) RemoveAll(path string) error { return f.base.RemoveAll(path) }

func (f *FaultFS) Rename(oldpath, newpath string) error {
	hook, err := f.check(OpRename, newpath)
	defer after(hook)
	if err != nil {
		return err
	}
	return f.base.Rename(oldpath, newpath)
}

func (f *FaultFS) MkdirAll(path string, perm os.FileMode) error { return f.base.MkdirAll(path, perm) }
func (f *FaultFS) ReadDir(name string) ([]os.DirEntry, error)   { return f.base.ReadDir(name) }
func (f *FaultFS) Stat(name string) (os.FileInfo, error)        { return f.base.Stat(name) }

func (f *FaultFS) SyncDir(dir string) error {
	hook, err := f.check(OpSyncDir, dir)
	defer after(hook)
	if err != nil {
		return err
	}
	return f.base.SyncDir(dir)
}

// Chtimes passes through to the wrapped FS if it can set modification times
// (the cleaner carries a segment's time over to its replacement).
func (f *FaultFS) Chtimes(name string, atime, mtime time.Time) error {
	if c, ok := f.base.(interface {
		Chtimes(name string, atime, mtime time.Time) error
	}); ok {
		return c.Chtimes(name, atime, mtime)
	}
	return nil
}

type faultFile struct {
	vfs.File
	fs *FaultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	hook, err := f.fs.check(OpWrite, f.Name())
	defer after(hook)
	if err != nil {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, err
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	hook, err := f.fs.check(OpSync, f.Name())
	defer after(hook)
	if err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	hook, err := f.fs.check(OpTruncate, f.Name())
	defer after(hook)
	if err != nil {
		return err
	}
	return f.File.Truncate(size)
}
