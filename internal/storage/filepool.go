package storage

// A cap on open segment files. A partition's log keeps one descriptor per
// segment (its .log; the indexes are opened only to be written, see
// sparseIndex), so 30,000 partitions of a few segments each need more
// descriptors than a process usually may open. Kafka asks its operators
// for a huge ulimit; Gregor instead opens sealed and idle segment files on
// demand and closes the least recently used ones beyond a cap.
//
// How it stays correct:
//   - A file is closed only when no operation uses it (pins), so a read,
//     a write, an fsync or a sendfile never sees its descriptor vanish.
//   - Closing a descriptor loses nothing: written bytes are in the page
//     cache, and an fsync through a descriptor opened later flushes them
//     (fsync works on the file, not on the descriptor; Linux reports a
//     writeback error no descriptor has seen to the next fsync). The
//     crash-simulating MemFS keeps unsynced data per file the same way.
//   - A file is reopened by its name. A Rename through the pool moves the
//     name with the file (retirement renames *.deleted). A name that
//     stops pointing to the file (the cleaner renames its output over the
//     .log; Remove; a topic deletion's RemoveAll) has the file opened if
//     needed and held open for good first: the descriptor keeps the old
//     file readable for in-flight reads, as it did before the cap.
//   - Eviction is a clock sweep over the open files, under the pool's lock
//     and with TryLock on each file, so it never waits for a file in use
//     (lock order: a file's mu, then the pool's mu). If every open file is
//     in use or held, the pool goes over its cap rather than fail.

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// PooledFS is an FS whose segment .log files share a cap on open
// descriptors; every other file passes through. Make one per broker with
// LimitOpenFiles and open every log through it.
type PooledFS struct {
	FS
	max    int
	logger *slog.Logger

	mu     sync.Mutex
	byPath map[string]*pooledFile // the open (or evicted) files by name, until held or closed
	ring   []*pooledFile          // the files with a descriptor that eviction may close
	hand   int
	open   int // descriptors held by pooled files, evictable or not

	evictions atomic.Int64
	reopens   atomic.Int64
}

// LimitOpenFiles returns fs with at most max segment files open at once
// (beyond that only while all of them are in use); max < 1 means 1.
func LimitOpenFiles(fs FS, n int, logger *slog.Logger) *PooledFS {
	if logger == nil {
		logger = slog.Default()
	}
	return &PooledFS{FS: fs, max: max(n, 1), logger: logger, byPath: map[string]*pooledFile{}}
}

// PoolStats are a PooledFS's counters.
type PoolStats struct {
	Open      int   // segment files with a descriptor now
	Max       int   // the cap
	Evictions int64 // descriptors closed to make room
	Reopens   int64 // descriptors opened again for a file evicted before
}

// Stats reports the pool's counters.
func (p *PooledFS) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Open: p.open, Max: p.max, Evictions: p.evictions.Load(), Reopens: p.reopens.Load()}
}

// OpenFile opens name; a segment .log file is pooled.
func (p *PooledFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if !strings.HasSuffix(name, logSuffix) {
		return p.FS.OpenFile(name, flag, perm)
	}
	// The file is opened, so its name is taken over: a tracked file of
	// the same name (a cleaned segment opened where the old one was, which
	// Rename already held) is no longer the one the name points to.
	pf := &pooledFile{p: p, name: name, flag: flag &^ (os.O_CREATE | os.O_TRUNC | os.O_EXCL), perm: perm}
	p.reserve(nil)
	f, err := p.FS.OpenFile(name, flag, perm)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.open--
		return nil, err
	}
	pf.f = f
	if old := p.byPath[name]; old != nil {
		old.tracked = false
	}
	p.byPath[name] = pf
	pf.tracked = true
	p.addRingLocked(pf)
	return pf, nil
}

// Rename moves a pooled file's name with it, so that it can still be
// closed and reopened (a retired segment renamed *.deleted waits
// file.delete.delay.ms for its readers); a pooled file the new name
// pointed to is held open first, as its file is about to be unlinked.
func (p *PooledFS) Rename(oldpath, newpath string) error {
	p.holdPath(newpath)
	p.mu.Lock()
	pf := p.byPath[oldpath]
	p.mu.Unlock()
	if pf == nil {
		return p.FS.Rename(oldpath, newpath)
	}
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if err := p.FS.Rename(oldpath, newpath); err != nil {
		return err
	}
	pf.name = newpath
	p.mu.Lock()
	if p.byPath[oldpath] == pf {
		delete(p.byPath, oldpath)
		if old := p.byPath[newpath]; old != nil {
			old.tracked = false
		}
		p.byPath[newpath] = pf
	}
	p.mu.Unlock()
	return nil
}

// Remove holds the file name points to open first.
func (p *PooledFS) Remove(name string) error {
	p.holdPath(name)
	return p.FS.Remove(name)
}

// RemoveAll holds every file under path open first.
func (p *PooledFS) RemoveAll(path string) error {
	prefix := filepath.Clean(path) + string(filepath.Separator)
	p.holdPaths(func(n string) bool { return n == path || strings.HasPrefix(filepath.Clean(n), prefix) })
	return p.FS.RemoveAll(path)
}

// holdPath holds open for good the tracked file named name, if any, and
// stops tracking it.
func (p *PooledFS) holdPath(name string) {
	p.mu.Lock()
	pf := p.byPath[name]
	if pf != nil {
		delete(p.byPath, name)
		pf.tracked = false
	}
	p.mu.Unlock()
	if pf != nil {
		pf.hold()
	}
}

// holdPaths holds open for good the tracked files whose names match, and
// stops tracking them.
func (p *PooledFS) holdPaths(match func(name string) bool) {
	var held []*pooledFile
	p.mu.Lock()
	for name, pf := range p.byPath {
		if match(name) {
			delete(p.byPath, name)
			pf.tracked = false
			held = append(held, pf)
		}
	}
	p.mu.Unlock()
	for _, pf := range held {
		pf.hold()
	}
}

// reserve counts one more descriptor, first closing idle ones while the
// pool is at its cap. self (whose mu the caller holds) is skipped.
func (p *PooledFS) reserve(self *pooledFile) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for steps := 2 * len(p.ring); p.open >= p.max && steps > 0 && len(p.ring) > 0; steps-- {
		p.hand %= len(p.ring)
		c := p.ring[p.hand]
		if c == self || c.used.Swap(false) || !c.mu.TryLock() {
			p.hand++
			continue
		}
		if c.pins == 0 && c.f != nil && !c.held {
			c.f.Close() // an error here loses nothing: see the package comment
			c.f = nil
			p.removeRingLocked(c)
			p.open--
			p.evictions.Add(1)
		} else {
			p.hand++
		}
		c.mu.Unlock()
	}
	p.open++
}

func (p *PooledFS) addRingLocked(pf *pooledFile) {
	pf.ringAt = len(p.ring)
	p.ring = append(p.ring, pf)
}

func (p *PooledFS) removeRingLocked(pf *pooledFile) {
	i := pf.ringAt
	if i < 0 || i >= len(p.ring) || p.ring[i] != pf {
		return
	}
	last := len(p.ring) - 1
	p.ring[i] = p.ring[last]
	p.ring[i].ringAt = i
	p.ring[last] = nil
	p.ring = p.ring[:last]
	pf.ringAt = -1
}

// pooledFile is a segment file whose descriptor the pool may close while
// nothing uses it, and which reopens on demand.
type pooledFile struct {
	p    *PooledFS
	name string
	flag int
	perm os.FileMode
	used atomic.Bool // touched since the clock hand last passed

	mu      sync.Mutex
	f       File // nil while evicted
	pins    int  // operations using f
	held    bool // never evicted: its name may point elsewhere now
	closed  bool
	tracked bool // in p.byPath (guarded by p.mu)
	ringAt  int  // index in p.ring, -1 if not there (guarded by p.mu)
}

// acquire pins the file's descriptor, reopening it if it was evicted.
func (pf *pooledFile) acquire() (File, error) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if pf.closed {
		return nil, os.ErrClosed
	}
	if pf.f == nil {
		if err := pf.reopenLocked(); err != nil {
			return nil, err
		}
	}
	pf.pins++
	pf.used.Store(true)
	return pf.f, nil
}

func (pf *pooledFile) reopenLocked() error {
	p := pf.p
	p.reserve(pf)
	f, err := p.FS.OpenFile(pf.name, pf.flag, pf.perm)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.open--
		return err
	}
	pf.f = f
	p.reopens.Add(1)
	if !pf.held {
		p.addRingLocked(pf)
	}
	return nil
}

// release unpins; the last release after Close closes the descriptor.
func (pf *pooledFile) release() {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	pf.pins--
	if pf.pins == 0 && pf.closed && pf.f != nil {
		pf.closeLocked()
	}
}

// hold opens the file if it was evicted and keeps it open until Close.
func (pf *pooledFile) hold() {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if pf.closed || pf.held {
		return
	}
	if pf.f == nil {
		if err := pf.reopenLocked(); err != nil {
			// Its reads fail as they would on a file gone missing.
			pf.p.logger.Warn("storage: could not reopen a segment file before renaming it", "file", pf.name, "err", err)
			return
		}
	}
	pf.held = true
	pf.p.mu.Lock()
	pf.p.removeRingLocked(pf)
	pf.p.mu.Unlock()
}

func (pf *pooledFile) closeLocked() error {
	err := pf.f.Close()
	pf.f = nil
	p := pf.p
	p.mu.Lock()
	p.removeRingLocked(pf)
	p.open--
	p.mu.Unlock()
	return err
}

func (pf *pooledFile) Name() string {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	return pf.name
}

// Close closes the descriptor, or lets the last operation using it do so.
func (pf *pooledFile) Close() error {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if pf.closed {
		return os.ErrClosed
	}
	pf.closed = true
	p := pf.p
	p.mu.Lock()
	if pf.tracked && p.byPath[pf.name] == pf {
		delete(p.byPath, pf.name)
	}
	pf.tracked = false
	p.mu.Unlock()
	if pf.pins > 0 || pf.f == nil {
		return nil
	}
	return pf.closeLocked()
}

func (pf *pooledFile) ReadAt(b []byte, off int64) (int, error) {
	f, err := pf.acquire()
	if err != nil {
		return 0, err
	}
	defer pf.release()
	return f.ReadAt(b, off)
}

func (pf *pooledFile) Write(b []byte) (int, error) {
	f, err := pf.acquire()
	if err != nil {
		return 0, err
	}
	defer pf.release()
	return f.Write(b)
}

func (pf *pooledFile) Sync() error {
	f, err := pf.acquire()
	if err != nil {
		return err
	}
	defer pf.release()
	return f.Sync()
}

func (pf *pooledFile) Truncate(size int64) error {
	f, err := pf.acquire()
	if err != nil {
		return err
	}
	defer pf.release()
	return f.Truncate(size)
}

func (pf *pooledFile) Stat() (os.FileInfo, error) {
	f, err := pf.acquire()
	if err != nil {
		return nil, err
	}
	defer pf.release()
	return f.Stat()
}
