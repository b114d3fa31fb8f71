package broker

// The committed metadata made local: ApplyTopic and RemoveTopic are called by
// the metadata applier only, in log order, one at a time. Logs are opened
// (recovering them) and deleted without Broker.mu held, so produce and fetch
// lookups of other partitions never wait behind a recovery or a deletion;
// the lock is taken only to install or remove the result.

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/storage"
)

// TopicState is a topic as the committed metadata describes it.
type TopicState struct {
	Name       string
	ID         TopicID
	Configs    map[string]string
	Partitions int32
	// Local reports whether this broker holds a replica of partition i.
	Local func(i int32) bool
}

// ApplyTopic makes the local topic match s: created if new (a topic of the
// same name and another id is removed first), configs applied, and the
// partitions this broker holds opened or, when it no longer holds them,
// closed and deleted.
func (b *Broker) ApplyTopic(s TopicState) error {
	b.mu.RLock()
	t, ok := b.topics[s.Name]
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if ok && t.ID != s.ID {
		b.RemoveTopic(s.Name)
		t, ok = nil, false
	}
	if !ok {
		t = &Topic{Name: s.Name, ID: s.ID, conf: config.NewTopic(b.cfg, s.Configs)}
		t.appendCfg.Store(appendConfig(t.conf))
	}
	b.mu.RLock()
	cur, offline := t.parts, maps.Clone(t.offline)
	b.mu.RUnlock()
	failed := map[int32]error{}
	var gone []*partition.Partition
	var open []int32
	for i := int32(0); i < s.Partitions; i++ {
		var have *partition.Partition
		if int(i) < len(cur) {
			have = cur[i]
		}
		switch local := s.Local(i); {
		case local && have == nil && offline[i] == nil:
			open = append(open, i)
		case !local:
			if offline[i] != nil {
				failed[i] = nil // not ours any more
			}
			if have != nil {
				gone = append(gone, have)
			}
		}
	}
	opened, openErrs := b.openPartitions(t, open, s.Configs)
	var errs []error
	for _, i := range open {
		if err := openErrs[i]; err != nil {
			failed[i] = err
			errs = append(errs, fmt.Errorf("offline until a restart: %w", err))
		}
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		for _, p := range opened {
			p.Close()
		}
		return ErrClosed
	}
	parts := slices.Clone(t.parts)
	for int32(len(parts)) < s.Partitions {
		parts = append(parts, nil)
	}
	for i, p := range opened {
		parts[i] = p
	}
	for _, p := range gone {
		parts[p.Index] = nil
	}
	t.parts = parts
	for i, err := range failed {
		if err == nil {
			delete(t.offline, i)
			continue
		}
		if t.offline == nil {
			t.offline = map[int32]error{}
		}
		t.offline[i] = err
	}
	if ok && !maps.Equal(t.conf.Overrides(), s.Configs) {
		t.conf = config.NewTopic(b.cfg, s.Configs)
		b.applyTopicConfigLocked(t)
	}
	if !ok {
		b.topics[t.Name], b.byID[t.ID] = t, t
	}
	b.mu.Unlock()
	if !ok {
		b.logger.Info("topic applied", "topic", t.Name, "id", t.ID.String(), "partitions", s.Partitions)
	}
	for _, p := range gone {
		if err := p.Delete(); err != nil {
			b.logger.Warn("deleting a replica this broker no longer holds", "topic", s.Name, "partition", p.Index, "err", err)
		}
	}
	return errors.Join(errs...)
}

// RemoveTopic deletes a topic the committed metadata no longer has, with
// its local data.
func (b *Broker) RemoveTopic(name string) {
	b.mu.Lock()
	t, ok := b.topics[name]
	if ok {
		delete(b.topics, name)
		delete(b.byID, t.ID)
	}
	b.mu.Unlock()
	if !ok {
		return
	}
	b.deleteTopicData(t)
	b.logger.Info("topic deleted", "topic", name, "id", t.ID.String())
	b.notifyTopicDeleted(name)
}

// deleteTopicData closes a removed topic's partitions and deletes their
// directories (renamed first, so that a crash midway finishes the job at
// the next start).
func (b *Broker) deleteTopicData(t *Topic) {
	name := t.Name
	for i, p := range t.parts {
		if p == nil {
			continue
		}
		if err := p.Close(); err != nil {
			b.logger.Warn("closing a deleted partition", "topic", name, "partition", i, "err", err)
		}
		dir := b.partitionDir(name, int32(i))
		gone := dir + "." + strings.ReplaceAll(t.ID.String(), "-", "_") + deleteSuffix
		if err := b.fs.Rename(dir, gone); err != nil {
			b.logger.Warn("renaming a deleted partition", "dir", dir, "err", err)
			gone = dir
		}
		if err := b.fs.RemoveAll(gone); err != nil {
			b.logger.Warn("removing a deleted partition", "dir", gone, "err", err)
		}
	}
}

// LocalPartition returns this broker's replica of a partition, or nil.
func (b *Broker) LocalPartition(topic string, index int32) *partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[topic]
	if !ok || index < 0 || int(index) >= len(t.parts) {
		return nil
	}
	return t.parts[index]
}

func (b *Broker) applyTopicConfigLocked(t *Topic) {
	t.appendCfg.Store(appendConfig(t.conf))
	so := storageOptions(t.conf)
	for _, p := range t.parts {
		if p == nil {
			continue
		}
		p.SetStorageOptions(so)
	}
}

// openWorkers bounds the partitions of one topic opened at once. Opening
// is mostly waiting for the disk (a recovered segment is fsynced), and
// concurrent fsyncs share the file system's journal commits, so a few
// openers in parallel cut a start-up with thousands of replicas several
// times over; more would only queue at the disk.
const openWorkers = 8

// openPartitions opens the replicas idx of t, openWorkers at a time; each
// one either opened or failed.
func (b *Broker) openPartitions(t *Topic, idx []int32, configs map[string]string) (map[int32]*partition.Partition, map[int32]error) {
	opened := make(map[int32]*partition.Partition, len(idx))
	failed := map[int32]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int32)
	for range min(openWorkers, len(idx)) {
		wg.Go(func() {
			for i := range next {
				p, err := b.openPartition(t, i, configs)
				mu.Lock()
				if err != nil {
					failed[i] = err
				} else {
					opened[i] = p
				}
				mu.Unlock()
			}
		})
	}
	for _, i := range idx {
		next <- i
	}
	close(next)
	wg.Wait()
	return opened, failed
}

// openPartition opens (recovering) a replica's log. Its directory names
// the topic id it belongs to (Kafka's partition.metadata): a directory left
// by an older topic of the same name is never appended to; it is set aside
// as <dir>.<old id>-stray, data kept, and a new log starts.
func (b *Broker) openPartition(t *Topic, i int32, configs map[string]string) (*partition.Partition, error) {
	dir := b.partitionDir(t.Name, i)
	if err := b.claimPartitionDir(dir, t.ID); err != nil {
		return nil, err
	}
	return partition.Open(t.Name, i, partition.Options{
		FS: b.fs, Dir: dir, Storage: storageOptions(config.NewTopic(b.cfg, configs)),
		Now: b.now, Logger: b.logger, NodeID: b.cfg.NodeID(), OnFlush: b.onFlush,
	})
}

// partitionMetadataFile is Kafka's per-partition record of its topic id.
const partitionMetadataFile = "partition.metadata"

// claimPartitionDir makes dir a directory of topic id.
func (b *Broker) claimPartitionDir(dir string, id TopicID) error {
	path := filepath.Join(dir, partitionMetadataFile)
	data, err := readFile(b.fs, path)
	switch {
	case err == nil:
		have, perr := parsePartitionMetadata(data)
		if perr == nil && have == id {
			return nil
		}
		stray := dir + "." + strings.ReplaceAll(have.String(), "-", "_") + straySuffix
		if perr != nil {
			stray = dir + ".unknown" + straySuffix
		}
		b.logger.Warn("a partition directory belongs to another topic of the same name; kept aside, not appended to",
			"dir", dir, "topicId", id.String(), "directoryTopicId", have.String(), "movedTo", stray, "err", perr)
		if err := b.fs.Rename(dir, stray); err != nil {
			return fmt.Errorf("broker: setting aside %s: %w", dir, err)
		}
	case !os.IsNotExist(err):
		return fmt.Errorf("broker: %s: %w", path, err)
	}
	if err := b.fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("broker: partition dir: %w", err)
	}
	content := fmt.Sprintf("version: 0\ntopic_id: %s\n", id.String())
	return storage.WriteFileAtomic(b.fs, path, []byte(content))
}

// parsePartitionMetadata reads "version: 0\ntopic_id: <base64 uuid>".
func parsePartitionMetadata(data []byte) (TopicID, error) {
	var id TopicID
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "topic_id" {
			continue
		}
		return ParseTopicID(strings.TrimSpace(v))
	}
	return id, fmt.Errorf("broker: %s has no topic_id", partitionMetadataFile)
}
