package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Small text files the log keeps next to its segments. Each starts with a
// version line ("0"), as Kafka's checkpoint files do.
const (
	startOffsetFile   = "log-start-offset-checkpoint"
	recoveryPointFile = "recovery-point-offset-checkpoint"
	cleanShutdownFile = ".kafka_cleanshutdown"
	checkpointVersion = "0"
)

// writeFileAtomic replaces dir/name durably (see WriteFileAtomic).
func writeFileAtomic(fs FS, dir, name string, data []byte) error {
	return WriteFileAtomic(fs, filepath.Join(dir, name), data)
}

// readFile returns the contents of dir/name; ok is false if it is absent.
func readFile(fs FS, dir, name string) (data []byte, ok bool, err error) {
	f, err := fs.OpenFile(filepath.Join(dir, name), os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	data = make([]byte, fi.Size())
	if n, err := f.ReadAt(data, 0); n < len(data) {
		return nil, false, err
	}
	return data, true, nil
}

// checkpointLines checks the version line and returns the other lines.
func checkpointLines(name string, data []byte) ([]string, error) {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) == 0 || lines[0] != checkpointVersion {
		return nil, fmt.Errorf("%w: %s: unknown version line %q", ErrCorrupt, name, lines[0])
	}
	return lines[1:], nil
}

// The log start offset checkpoint (log-start-offset-checkpoint):
//
//	0           version
//	<offset>    log start offset, decimal
func encodeStartOffset(off int64) []byte {
	return []byte(checkpointVersion + "\n" + strconv.FormatInt(off, 10) + "\n")
}

func decodeStartOffset(data []byte) (int64, error) { return decodeOffset(startOffsetFile, data) }

// decodeOffset reads a one-offset checkpoint (the start offset, or the
// recovery point in recovery-point-offset-checkpoint, same layout).
func decodeOffset(name string, data []byte) (int64, error) {
	lines, err := checkpointLines(name, data)
	if err != nil {
		return 0, err
	}
	if len(lines) != 1 {
		return 0, fmt.Errorf("%w: %s: %d lines", ErrCorrupt, name, len(lines))
	}
	off, err := strconv.ParseInt(lines[0], 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("%w: %s: bad offset %q", ErrCorrupt, name, lines[0])
	}
	return off, nil
}

// WriteOffsetCheckpoint durably replaces the file name with a one-offset
// checkpoint (the layout of log-start-offset-checkpoint), for the offsets
// other packages keep next to a log, such as the high watermark.
func WriteOffsetCheckpoint(fs FS, name string, off int64) error {
	return WriteFileAtomic(fs, name, encodeStartOffset(off))
}

// ReadOffsetCheckpoint reads a file written by WriteOffsetCheckpoint; ok is
// false if it is absent. A malformed file gives an error wrapping ErrCorrupt.
func ReadOffsetCheckpoint(fs FS, name string) (off int64, ok bool, err error) {
	data, ok, err := readFile(fs, filepath.Dir(name), filepath.Base(name))
	if err != nil || !ok {
		return 0, ok, err
	}
	off, err = decodeOffset(filepath.Base(name), data)
	return off, err == nil, err
}
