package storage

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

const epochCheckpointFile = "leader-epoch-checkpoint"

// epochEntry: leader epoch epoch started at offset start.
type epochEntry struct {
	epoch int32
	start int64
}

// epochCache is Kafka's LeaderEpochFileCache: leader epochs in increasing
// order with the first offset written in each. The writer (holding Log.mu)
// changes it and persists it; OffsetForLeaderEpoch reads it concurrently.
type epochCache struct {
	mu      sync.RWMutex
	entries []epochEntry
}

func (c *epochCache) latest() (epochEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at start. Like Kafka's assign it first
// drops entries that would no longer be monotonic (epoch or start offset ≥
// the new one). It reports whether the cache changed.
func (c *epochCache) assign(epoch int32, start int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.entries); n > 0 {
		last := c.entries[n-1]
		if last.epoch == epoch && last.start <= start {
			return false
		}
	}
	n := len(c.entries)
	for n > 0 && (c.entries[n-1].epoch >= epoch || c.entries[n-1].start >= start) {
		n--
	}
	c.entries = append(c.entries[:n], epochEntry{epoch, start})
	return true
}

// dropContradicted drops the epochs that a batch of epoch at offset
// contradicts: those above epoch starting at or before offset (each would
// claim the batch). Epochs starting after offset stay. It returns the
// dropped entries.
func (c *epochCache) dropContradicted(epoch int32, offset int64) []epochEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var dropped []epochEntry
	kept := c.entries[:0]
	for _, e := range c.entries {
		if e.epoch > epoch && e.start <= offset {
			dropped = append(dropped, e)
			continue
		}
		kept = append(kept, e)
	}
	c.entries = kept
	return dropped
}

// truncateFromEnd drops the epochs starting at or after end (the new LEO).
func (c *epochCache) truncateFromEnd(end int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	for n > 0 && c.entries[n-1].start >= end {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops the epochs wholly below the new log start offset;
// the last epoch starting at or below it is kept, moved up to start there.
func (c *epochCache) truncateFromStart(start int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0 // entries[:i] start at or below start
	for i < len(c.entries) && c.entries[i].start <= start {
		i++
	}
	if i == 0 || (i == 1 && c.entries[0].start == start) {
		return false
	}
	kept := epochEntry{c.entries[i-1].epoch, start}
	c.entries = append([]epochEntry{kept}, c.entries[i:]...)
	return true
}

// endOffsetFor follows Kafka's LeaderEpochFileCache.endOffsetFor:
//   - requested is undefined (-1), or above every known epoch, or the cache
//     is empty: (-1, -1);
//   - requested is the latest epoch: (requested, leo);
//   - requested is below every known epoch: (requested, start offset of the
//     first epoch);
//   - otherwise: (largest known epoch ≤ requested, start offset of the first
//     epoch above requested).
func (c *epochCache) endOffsetFor(requested int32, leo int64) (int32, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := c.entries
	if requested < 0 || len(e) == 0 {
		return -1, -1
	}
	if e[len(e)-1].epoch == requested {
		return requested, leo
	}
	hi := 0 // first entry with epoch > requested
	for hi < len(e) && e[hi].epoch <= requested {
		hi++
	}
	switch {
	case hi == len(e):
		return -1, -1
	case hi == 0:
		return requested, e[0].start
	default:
		return e[hi-1].epoch, e[hi].start
	}
}

// The leader epoch checkpoint (leader-epoch-checkpoint), Kafka's format:
//
//	0                 version
//	<n>               number of entries
//	<epoch> <offset>  n lines, epochs increasing
//
// covering returns the last entry starting at or before offset.
func (c *epochCache) covering(offset int64) (epochEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].start <= offset {
			return c.entries[i], true
		}
	}
	return epochEntry{}, false
}

// snapshot copies the entries, for restore.
func (c *epochCache) snapshot() []epochEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.entries)
}

// restore sets the entries to a snapshot.
func (c *epochCache) restore(entries []epochEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = slices.Clone(entries)
}

func (c *epochCache) encode() []byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n", checkpointVersion, len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	return []byte(b.String())
}

func (c *epochCache) decode(data []byte) error {
	lines, err := checkpointLines(epochCheckpointFile, data)
	if err != nil {
		return err
	}
	bad := func(what string) error {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, epochCheckpointFile, what)
	}
	if len(lines) == 0 {
		return bad("no entry count")
	}
	n, err := strconv.Atoi(lines[0])
	if err != nil || n != len(lines)-1 {
		return bad(fmt.Sprintf("entry count %q for %d lines", lines[0], len(lines)-1))
	}
	entries := make([]epochEntry, 0, n)
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 2 {
			return bad(fmt.Sprintf("line %q", line))
		}
		epoch, err1 := strconv.ParseInt(f[0], 10, 32)
		start, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || epoch < 0 || start < 0 {
			return bad(fmt.Sprintf("line %q", line))
		}
		if k := len(entries); k > 0 && (int32(epoch) <= entries[k-1].epoch || start < entries[k-1].start) {
			return bad(fmt.Sprintf("line %q out of order", line))
		}
		entries = append(entries, epochEntry{int32(epoch), start})
	}
	c.mu.Lock()
	c.entries = entries
	c.mu.Unlock()
	return nil
}

// LatestEpochIn reads the latest leader epoch in the leader-epoch
// checkpoint of the log in dir, without opening the log: -1 when there is
// none.
func LatestEpochIn(fs FS, dir string) (int32, error) {
	data, ok, err := readFile(fs, dir, epochCheckpointFile)
	if err != nil || !ok {
		return -1, err
	}
	var c epochCache
	if err := c.decode(data); err != nil {
		return -1, err
	}
	e, ok := c.latest()
	if !ok {
		return -1, nil
	}
	return e.epoch, nil
}
