// Package vfs holds the file system interfaces the storage log does all its
// disk I/O through. It is a leaf package so that test file systems
// (internal/storagetest) can implement them without importing storage, and
// storage's own tests can use those file systems.
package vfs

import (
	"io"
	"os"
)

// File is an open file as the log uses it. Files the log writes are opened
// with O_APPEND, so Write always appends; ReadAt reads anywhere.
type File interface {
	io.ReaderAt
	io.Writer
	io.Closer
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Name() string
}

// FS is the file system the log works through, so tests can inject faults
// and simulate crashes.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(path string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm os.FileMode) error
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	// SyncDir fsyncs a directory, making creations, renames and removals in
	// it durable.
	SyncDir(dir string) error
}
