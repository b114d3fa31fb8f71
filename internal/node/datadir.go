package node

// The data directory's own files:
//
//	.lock            held (flock, exclusive) by the one process that serves
//	                 the directory, as Kafka's log directories are; it
//	                 holds that process's pid, to name the holder
//	meta.properties  Kafka's: version, cluster.id (once the metadata log
//	                 names it), node.id; and which metadata quorum the
//	                 directory belongs to (gregor.metadata.voters: the
//	                 voter ids), so that it is never started in another
//	                 mode or quorum

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/gregor-dev/gregor/internal/storage"
)

const (
	lockFile           = ".lock"
	metaPropertiesFile = "meta.properties"
	votersKey          = "gregor.metadata.voters"
)

// ErrDataDirInUse is a data directory another process serves.
var ErrDataDirInUse = errors.New("node: data directory in use")

// ErrDataDirMismatch is a data directory started as another node, in
// another cluster or another metadata quorum than the one it belongs to.
var ErrDataDirMismatch = errors.New("node: data directory belongs elsewhere")

// dirLock is the exclusive lock on a data directory.
type dirLock struct{ f *os.File }

// lockDataDir takes the directory's lock or says who holds it.
func lockDataDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("node: %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		who := strings.TrimSpace(string(holder))
		if who == "" {
			who = "another process"
		} else {
			who = "process " + who
		}
		return nil, fmt.Errorf("%w: %s is locked by %s (another broker serves it; give each broker its own --data-dir)", ErrDataDirInUse, dir, who)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f}, nil
}

func (l *dirLock) release() {
	if l == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// metaProperties is the content of meta.properties.
type metaProperties struct {
	ClusterID string
	NodeID    int32
	// Voters are the metadata quorum's voter ids; nil in a file written
	// before they were recorded.
	Voters []int32
	exists bool
}

func (m metaProperties) encode() []byte {
	var b bytes.Buffer
	b.WriteString("#Written by gregor\nversion=1\n")
	if m.ClusterID != "" {
		fmt.Fprintf(&b, "cluster.id=%s\n", m.ClusterID)
	}
	fmt.Fprintf(&b, "node.id=%d\n", m.NodeID)
	ids := make([]string, len(m.Voters))
	for i, v := range m.Voters {
		ids[i] = strconv.Itoa(int(v))
	}
	fmt.Fprintf(&b, "%s=%s\n", votersKey, strings.Join(ids, ","))
	return b.Bytes()
}

func readMetaProperties(fsys storage.FS, dir string) (metaProperties, error) {
	path := filepath.Join(dir, metaPropertiesFile)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if os.IsNotExist(err) {
		return metaProperties{NodeID: -1}, nil
	}
	if err != nil {
		return metaProperties{}, fmt.Errorf("node: %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		return metaProperties{}, fmt.Errorf("node: %s: %w", path, err)
	}
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	m := metaProperties{ClusterID: props["cluster.id"], NodeID: -1, exists: true}
	if s := props["node.id"]; s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return m, fmt.Errorf("node: %s: node.id %q", path, s)
		}
		m.NodeID = int32(n)
	}
	if s, ok := props[votersKey]; ok {
		m.Voters = []int32{}
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return m, fmt.Errorf("node: %s: %s %q", path, votersKey, s)
			}
			m.Voters = append(m.Voters, int32(n))
		}
		slices.Sort(m.Voters)
	}
	return m, nil
}

func writeMetaProperties(fsys storage.FS, dir string, m metaProperties) error {
	return storage.WriteFileAtomic(fsys, filepath.Join(dir, metaPropertiesFile), m.encode())
}

// checkMeta refuses a directory of another node or quorum, with what to do.
func checkMeta(dir string, m metaProperties, nodeID int32, voters []int32) error {
	if !m.exists {
		return nil
	}
	if m.NodeID >= 0 && m.NodeID != nodeID {
		return fmt.Errorf("%w: %s belongs to node.id %d, but this broker is configured with node.id %d", ErrDataDirMismatch, dir, m.NodeID, nodeID)
	}
	if m.Voters == nil || slices.Equal(m.Voters, voters) {
		return nil
	}
	if len(m.Voters) == 1 && m.Voters[0] == nodeID {
		return fmt.Errorf("%w: %s is a single broker's data directory (its metadata quorum is node %d alone) but this broker is configured with voters %v: start it without --voters (controller.quorum.voters), or use a new data directory for a cluster node",
			ErrDataDirMismatch, dir, nodeID, voters)
	}
	return fmt.Errorf("%w: %s belongs to a cluster whose metadata quorum voters are %v, but this broker is configured with voters %v: start it with --voters (controller.quorum.voters) listing those voters and their controller addresses, or use a new data directory",
		ErrDataDirMismatch, dir, m.Voters, voters)
}
