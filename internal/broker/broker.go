// Package broker holds a single broker's topics and partitions: it creates,
// alters and deletes topics, persists their metadata atomically, opens every
// partition's log at start and closes them at shutdown, hands out producer
// ids, and runs the periodic flush and checkpoint task and the log cleaner.
//
// Lock order: Broker.mu before any Partition lock. The produce and fetch hot
// paths take Broker.mu only shared, to find a partition.
package broker

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/storage"
)

// Errors mapped to Kafka error codes at the handler boundary.
var (
	ErrUnknownTopic             = errors.New("broker: unknown topic or partition")
	ErrTopicExists              = errors.New("broker: topic already exists")
	ErrInvalidTopic             = errors.New("broker: invalid topic")
	ErrInvalidPartitions        = errors.New("broker: invalid partition count")
	ErrInvalidReplicationFactor = errors.New("broker: invalid replication factor")
	ErrDeletionDisabled         = errors.New("broker: topic deletion is disabled")
	ErrClosed                   = errors.New("broker: shutting down")
)

// maxPartitions bounds a topic's partition count so that one request cannot
// make the broker open an unbounded number of files.
const maxPartitions = 10000

// Topic is one topic. Its partitions and configuration are replaced, never
// mutated, under Broker.mu.
type Topic struct {
	Name string
	ID   TopicID

	parts     []*partition.Partition
	conf      *config.Topic
	appendCfg atomic.Pointer[partition.AppendConfig]
}

// AppendConfig is the topic configuration the produce path needs, cached.
func (t *Topic) AppendConfig() *partition.AppendConfig { return t.appendCfg.Load() }

// Options configure Open.
type Options struct {
	FS     storage.FS // nil: the OS
	Now    func() time.Time
	Logger *slog.Logger
	// Clustered: topics come from the metadata quorum (see cluster.go),
	// not from topics.json.
	Clustered bool
}

// Broker is the state of one broker. Safe for concurrent use.
type Broker struct {
	cfg       *config.Broker
	fs        storage.FS
	dataDir   string
	now       func() time.Time
	logger    *slog.Logger
	clusterID string

	mu          sync.RWMutex
	topics      map[string]*Topic
	byID        map[TopicID]*Topic
	nextPID     int64
	pidBlockEnd int64
	closed      bool

	topicDeletedHooks []func(topic string) // see OnTopicDeleted

	clustered bool
	ctl       Controller // cluster mode; see cluster.go
	pidMu     sync.Mutex // cluster mode: guards nextPID and pidBlockEnd

	cleaner *cleaner // compaction; see cleaner.go

	stop chan struct{}
	done chan struct{}
}

// Open loads the broker's metadata from its data directory and opens every
// partition, recovering logs after a crash.
func Open(cfg *config.Broker, o Options) (*Broker, error) {
	if o.FS == nil {
		o.FS = storage.OS
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b := &Broker{
		cfg: cfg, fs: o.FS, dataDir: cfg.DataDir(), now: o.Now, logger: o.Logger,
		topics: map[string]*Topic{}, byID: map[TopicID]*Topic{},
		stop: make(chan struct{}), done: make(chan struct{}),
		clustered: o.Clustered,
	}
	b.cleaner = newCleaner(b)
	if err := b.fs.MkdirAll(b.dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	var err error
	if b.clusterID, err = loadMetaProperties(b.fs, b.dataDir, cfg.NodeID()); err != nil {
		return nil, err
	}
	m, err := loadMetadata(b.fs, b.dataDir)
	if err != nil {
		return nil, err
	}
	for src, values := range map[config.Source]map[string]string{
		config.SourceDynamicBrokerConfig: m.DynamicBroker, config.SourceDynamicDefaultBrokerConfig: m.DynamicDefault,
	} {
		if err := cfg.UpdateDynamic(src, stringPtrs(values), false); err != nil {
			return nil, fmt.Errorf("broker: stored dynamic broker configs: %w", err)
		}
	}
	b.removeDeletedDirs()
	if b.clustered {
		m.Topics = nil // the metadata quorum has them
	}
	for _, tr := range m.Topics {
		t := &Topic{Name: tr.Name, ID: tr.ID, conf: config.NewTopic(cfg, tr.Configs)}
		t.appendCfg.Store(appendConfig(t.conf))
		for i := int32(0); i < tr.Partitions; i++ {
			p, err := b.openPartition(t, i)
			if err != nil {
				b.closeAll()
				return nil, err
			}
			t.parts = append(t.parts, p)
		}
		b.topics[t.Name], b.byID[t.ID] = t, t
	}
	// Ids below the persisted block end may have been handed out before.
	b.nextPID, b.pidBlockEnd = m.ProducerIDBlockEnd, m.ProducerIDBlockEnd
	go b.background()
	b.cleaner.start()
	return b, nil
}

func (b *Broker) partitionDir(topic string, i int32) string {
	return filepath.Join(b.dataDir, topic+"-"+strconv.Itoa(int(i)))
}

func (b *Broker) openPartition(t *Topic, i int32) (*partition.Partition, error) {
	return partition.Open(t.Name, i, partition.Options{
		FS: b.fs, Dir: b.partitionDir(t.Name, i), Storage: storageOptions(t.conf),
		Now: b.now, Logger: b.logger, NodeID: b.cfg.NodeID(),
	})
}

// removeDeletedDirs finishes deletions a crash interrupted.
func (b *Broker) removeDeletedDirs() {
	entries, err := b.fs.ReadDir(b.dataDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasSuffix(e.Name(), deleteSuffix) {
			b.logger.Info("removing a deleted topic's partition left by an interrupted deletion", "dir", e.Name())
			if err := b.fs.RemoveAll(filepath.Join(b.dataDir, e.Name())); err != nil {
				b.logger.Warn("could not remove deleted partition", "dir", e.Name(), "err", err)
			}
		}
	}
}

// storageOptions derives a log's options from its topic configuration.
func storageOptions(c *config.Topic) storage.Options {
	return storage.Options{
		SegmentBytes:       c.Int64("segment.bytes"),
		SegmentMs:          compactedSegmentMs(c),
		IndexIntervalBytes: c.Int("index.interval.bytes"),
		SegmentIndexBytes:  c.Int("segment.index.bytes"),
		FlushMessages:      c.Int64("flush.messages"),
		FlushMs:            c.Int64("flush.ms"),
		FileDeleteDelayMs:  cmp.Or(c.Int64("file.delete.delay.ms"), -1), // 0 means none; storage's 0 is the default
	}
}

func appendConfig(c *config.Topic) *partition.AppendConfig {
	codec, recompress := record.ParseCodec(c.String("compression.type"))
	return &partition.AppendConfig{
		Recompress:           recompress,
		Compression:          codec,
		MaxMessageBytes:      int64(c.Int("max.message.bytes")),
		LogAppendTime:        c.String("message.timestamp.type") == "LogAppendTime",
		TimestampBeforeMaxMs: c.Int64("message.timestamp.before.max.ms"),
		TimestampAfterMaxMs:  c.Int64("message.timestamp.after.max.ms"),
		MinInsyncReplicas:    c.Int("min.insync.replicas"),
		RequireKeys:          isCompacted(c),
	}
}

// ClusterID is the id persisted in meta.properties.
func (b *Broker) ClusterID() string { return b.clusterID }

// NodeID is this broker's node id.
func (b *Broker) NodeID() int32 { return b.cfg.NodeID() }

// Config is the broker configuration.
func (b *Broker) Config() *config.Broker { return b.cfg }

// Topic returns the named topic.
func (b *Broker) Topic(name string) (*Topic, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[name]
	return t, ok
}

// TopicByID returns the topic with that id.
func (b *Broker) TopicByID(id TopicID) (*Topic, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.byID[id]
	return t, ok
}

// TopicNames lists every topic, sorted.
func (b *Broker) TopicNames() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	names := make([]string, 0, len(b.topics))
	for n := range b.topics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Partitions returns the topic's partitions (a snapshot).
func (b *Broker) Partitions(t *Topic) []*partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return t.parts
}

// TopicConfig returns the topic's configuration.
func (b *Broker) TopicConfig(t *Topic) *config.Topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return t.conf
}

// Partition finds a partition by topic name and index.
func (b *Broker) Partition(topic string, index int32) (*Topic, *partition.Partition, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[topic]
	if !ok || index < 0 || int(index) >= len(t.parts) {
		return nil, nil, ErrUnknownTopic
	}
	if t.parts[index] == nil {
		return nil, nil, ErrNotHosted
	}
	return t, t.parts[index], nil
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int32 // -1: num.partitions
	ReplicationFactor int16 // -1: default.replication.factor
	Configs           map[string]string
}

// CreateTopic validates spec and, unless validateOnly, creates the topic.
// It returns the topic (nil when validateOnly) and the resolved spec.
func (b *Broker) CreateTopic(spec TopicSpec, validateOnly bool) (*Topic, TopicSpec, error) {
	if err := ValidateTopicName(spec.Name); err != nil {
		return nil, spec, err
	}
	if spec.Partitions == -1 {
		spec.Partitions = b.cfg.Int("num.partitions")
	}
	if spec.ReplicationFactor == -1 {
		spec.ReplicationFactor = int16(b.cfg.Int("default.replication.factor"))
	}
	if spec.Partitions <= 0 || spec.Partitions > maxPartitions {
		return nil, spec, fmt.Errorf("%w: %d partitions (must be 1 to %d)", ErrInvalidPartitions, spec.Partitions, maxPartitions)
	}
	if spec.ReplicationFactor <= 0 {
		return nil, spec, fmt.Errorf("%w: replication factor must be larger than 0", ErrInvalidReplicationFactor)
	}
	ctl := b.controller()
	if ctl == nil && spec.ReplicationFactor > 1 {
		return nil, spec, fmt.Errorf("%w: replication factor %d is larger than the 1 available broker", ErrInvalidReplicationFactor, spec.ReplicationFactor)
	}
	if err := config.ValidateTopicConfigs(b.cfg, spec.Configs); err != nil {
		return nil, spec, err
	}
	if err := b.checkNewTopicName(spec.Name); err != nil {
		return nil, spec, err
	}
	if ctl != nil {
		return b.clusterCreateTopic(ctl, spec, validateOnly)
	}
	if validateOnly {
		return nil, spec, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkNewTopicNameLocked(spec.Name); err != nil {
		return nil, spec, err
	}
	t := &Topic{Name: spec.Name, ID: newTopicID(), conf: config.NewTopic(b.cfg, spec.Configs)}
	t.appendCfg.Store(appendConfig(t.conf))
	for i := int32(0); i < spec.Partitions; i++ {
		p, err := b.openPartition(t, i)
		if err != nil {
			for _, p := range t.parts {
				p.Delete()
			}
			return nil, spec, err
		}
		t.parts = append(t.parts, p)
	}
	b.topics[t.Name], b.byID[t.ID] = t, t
	if err := b.persistLocked(); err != nil {
		delete(b.topics, t.Name)
		delete(b.byID, t.ID)
		for _, p := range t.parts {
			p.Delete()
		}
		return nil, spec, err
	}
	b.logger.Info("topic created", "topic", t.Name, "id", t.ID.String(), "partitions", spec.Partitions)
	return t, spec, nil
}

// checkNewTopicName refuses a name taken, or colliding with a topic's name.
func (b *Broker) checkNewTopicName(name string) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.checkNewTopicNameLocked(name)
}

func (b *Broker) checkNewTopicNameLocked(name string) error {
	if b.closed {
		return ErrClosed
	}
	if _, ok := b.topics[name]; ok {
		return fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	key := collisionKey(name)
	for n := range b.topics {
		if collisionKey(n) == key {
			return fmt.Errorf("%w: %q collides with existing topic %q ('.' and '_' may not be the only difference)", ErrInvalidTopic, name, n)
		}
	}
	return nil
}

// AutoCreateTopic creates name with the broker defaults if auto creation is
// enabled; it returns the existing topic if another request won the race.
func (b *Broker) AutoCreateTopic(name string) (*Topic, error) {
	if !b.cfg.Bool("auto.create.topics.enable") {
		return nil, ErrUnknownTopic
	}
	t, _, err := b.CreateTopic(TopicSpec{Name: name, Partitions: -1, ReplicationFactor: -1}, false)
	if errors.Is(err, ErrTopicExists) {
		if t, ok := b.Topic(name); ok {
			return t, nil
		}
	}
	return t, err
}

// DeleteTopic removes a topic and its data.
func (b *Broker) DeleteTopic(name string) (TopicID, error) {
	if !b.cfg.Bool("delete.topic.enable") {
		return TopicID{}, ErrDeletionDisabled
	}
	if ctl := b.controller(); ctl != nil {
		t, ok := b.Topic(name)
		if !ok {
			return TopicID{}, ErrUnknownTopic
		}
		return t.ID, ctl.DeleteTopic(name)
	}
	b.mu.Lock()
	t, ok := b.topics[name]
	if !ok {
		b.mu.Unlock()
		return TopicID{}, ErrUnknownTopic
	}
	delete(b.topics, name)
	delete(b.byID, t.ID)
	err := b.persistLocked()
	if err != nil {
		b.topics[name], b.byID[t.ID] = t, t
		b.mu.Unlock()
		return TopicID{}, err
	}
	b.mu.Unlock()
	b.deleteTopicData(t)
	b.logger.Info("topic deleted", "topic", name, "id", t.ID.String())
	b.notifyTopicDeleted(name)
	return t.ID, nil
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

// CreatePartitions grows a topic to total partitions.
func (b *Broker) CreatePartitions(name string, total int32, validateOnly bool) error {
	if ctl := b.controller(); ctl != nil {
		// Applied here (ApplyTopic, which takes b.mu) once committed.
		t, ok := b.Topic(name)
		if !ok {
			return ErrUnknownTopic
		}
		if err := checkPartitionCount(int32(len(b.Partitions(t))), total); err != nil || validateOnly {
			return err
		}
		return ctl.CreatePartitions(name, total)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.topics[name]
	if !ok {
		return ErrUnknownTopic
	}
	cur := int32(len(t.parts))
	if err := checkPartitionCount(cur, total); err != nil || validateOnly {
		return err
	}
	parts := slices.Clone(t.parts)
	for i := cur; i < total; i++ {
		p, err := b.openPartition(t, i)
		if err != nil {
			for _, p := range parts[cur:] {
				p.Delete()
			}
			return err
		}
		parts = append(parts, p)
	}
	old := t.parts
	t.parts = parts
	if err := b.persistLocked(); err != nil {
		for _, p := range parts[cur:] {
			p.Delete()
		}
		t.parts = old
		return err
	}
	b.logger.Info("partitions added", "topic", name, "partitions", total)
	return nil
}

// checkPartitionCount refuses growing a topic of cur partitions to total.
func checkPartitionCount(cur, total int32) error {
	switch {
	case total < cur:
		return fmt.Errorf("%w: topic currently has %d partitions, which is higher than the requested %d", ErrInvalidPartitions, cur, total)
	case total == cur:
		return fmt.Errorf("%w: topic already has %d partitions", ErrInvalidPartitions, cur)
	case total > maxPartitions:
		return fmt.Errorf("%w: %d partitions is over the limit of %d", ErrInvalidPartitions, total, maxPartitions)
	}
	return nil
}

// SetTopicConfig replaces the topic's configuration overrides, validating
// them, and applies them live.
func (b *Broker) SetTopicConfig(name string, overrides map[string]string, validateOnly bool) error {
	return b.UpdateTopicConfig(name, func(map[string]string) (map[string]string, error) { return overrides, nil }, validateOnly)
}

// UpdateTopicConfig computes the topic's new overrides from its current ones
// with edit, validates and applies them, all under the broker lock so that
// concurrent incremental changes do not lose each other's updates.
//
// In cluster mode the edited set goes to the quorum, which commits whole
// sets in order (two incremental changes racing each other may lose one),
// and applies here when committed (ApplyTopic, which takes b.mu).
func (b *Broker) UpdateTopicConfig(name string, edit func(cur map[string]string) (map[string]string, error), validateOnly bool) error {
	if ctl := b.controller(); ctl != nil {
		b.mu.RLock()
		_, overrides, err := b.editTopicConfigLocked(name, edit)
		b.mu.RUnlock()
		if err != nil || validateOnly {
			return err
		}
		return ctl.SetTopicConfig(name, overrides)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, overrides, err := b.editTopicConfigLocked(name, edit)
	if err != nil || validateOnly {
		return err
	}
	old := t.conf
	t.conf = config.NewTopic(b.cfg, overrides)
	if err := b.persistLocked(); err != nil {
		t.conf = old
		return err
	}
	b.applyTopicConfigLocked(t)
	b.logger.Info("topic config changed", "topic", name, "overrides", overrides)
	return nil
}

// editTopicConfigLocked returns the topic and its overrides after edit,
// validated. b.mu must be held (shared is enough).
func (b *Broker) editTopicConfigLocked(name string, edit func(cur map[string]string) (map[string]string, error)) (*Topic, map[string]string, error) {
	t, ok := b.topics[name]
	if !ok {
		return nil, nil, ErrUnknownTopic
	}
	overrides, err := edit(t.conf.Overrides())
	if err != nil {
		return nil, nil, err
	}
	if err := config.ValidateTopicConfigs(b.cfg, overrides); err != nil {
		return nil, nil, err
	}
	return t, overrides, nil
}

// UpdateDynamicConfig changes dynamic broker configs at one level
// (SourceDynamicBrokerConfig or SourceDynamicDefaultBrokerConfig; a nil value
// removes the key), persists them with the topic metadata so they survive a
// restart, and applies them live to the topics that inherit them.
func (b *Broker) UpdateDynamicConfig(src config.Source, changes map[string]*string, validateOnly bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if validateOnly {
		return b.cfg.UpdateDynamic(src, changes, true)
	}
	old := b.cfg.DynamicValues(src)
	if err := b.cfg.UpdateDynamic(src, changes, false); err != nil {
		return err
	}
	if err := b.persistLocked(); err != nil {
		undo := stringPtrs(old)
		for k := range changes {
			if _, had := old[k]; !had {
				undo[k] = nil
			}
		}
		if uerr := b.cfg.UpdateDynamic(src, undo, false); uerr != nil {
			b.logger.Error("could not undo a dynamic config change that was not persisted", "err", uerr)
		}
		return err
	}
	for _, t := range b.topics {
		b.applyTopicConfigLocked(t)
	}
	return nil
}

func stringPtrs(m map[string]string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
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

// AllocateProducerID hands out a producer id never used before on this
// broker, persisting ids in blocks.
func (b *Broker) AllocateProducerID() (int64, error) {
	if ctl := b.controller(); ctl != nil {
		return b.clusterAllocateProducerID(ctl)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nextPID >= b.pidBlockEnd {
		old := b.pidBlockEnd
		b.pidBlockEnd = b.nextPID + producerIDBlock
		if err := b.persistLocked(); err != nil {
			b.pidBlockEnd = old
			return -1, err
		}
	}
	id := b.nextPID
	b.nextPID++
	return id, nil
}

// persistLocked writes topics.json. b.mu must be held.
func (b *Broker) persistLocked() error {
	m := metadataFile{
		ProducerIDBlockEnd: b.pidBlockEnd,
		DynamicBroker:      b.cfg.DynamicValues(config.SourceDynamicBrokerConfig),
		DynamicDefault:     b.cfg.DynamicValues(config.SourceDynamicDefaultBrokerConfig),
	}
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range b.topics {
			if !yield(n) {
				return
			}
		}
	}) {
		t := b.topics[n]
		m.Topics = append(m.Topics, topicRecord{Name: t.Name, ID: t.ID, Partitions: int32(len(t.parts)), Configs: t.conf.Overrides()})
	}
	if err := saveMetadata(b.fs, b.dataDir, m); err != nil {
		return fmt.Errorf("broker: persist topic metadata: %w", err)
	}
	return nil
}

// background runs the periodic tasks until Close: the time-based flush
// policy (flush.ms) every second, producer-state checkpoints every
// log.flush.offset.checkpoint.interval.ms and retention every
// log.retention.check.interval.ms.
func (b *Broker) background() {
	defer close(b.done)
	const tick = time.Second
	every := func(key string) time.Duration {
		return max(time.Duration(b.cfg.Int64(key))*time.Millisecond, tick)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	lastCheckpoint, lastRetention := b.now(), b.now()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		now := b.now()
		checkpoint := now.Sub(lastCheckpoint) >= every("log.flush.offset.checkpoint.interval.ms")
		if checkpoint {
			lastCheckpoint = now
		}
		for _, p := range b.allPartitions() {
			if err := p.MaybeFlush(); err != nil {
				b.logger.Error("flush failed", "topic", p.Topic, "partition", p.Index, "err", err)
			}
			if checkpoint {
				if err := p.Checkpoint(); err != nil {
					b.logger.Error("checkpoint failed", "topic", p.Topic, "partition", p.Index, "err", err)
				}
			}
		}
		if now.Sub(lastRetention) >= every("log.retention.check.interval.ms") {
			lastRetention = now
			b.ApplyRetention()
		}
	}
}

// ApplyRetention deletes old segments of every topic whose cleanup.policy
// includes delete, by its retention.ms and retention.bytes, and returns the
// number of segments deleted. The background task calls it every
// log.retention.check.interval.ms.
func (b *Broker) ApplyRetention() int {
	b.mu.RLock()
	type job struct {
		parts     []*partition.Partition
		ms, bytes int64
	}
	var jobs []job
	for _, t := range b.topics {
		if !slices.Contains(t.conf.List("cleanup.policy"), "delete") {
			continue
		}
		jobs = append(jobs, job{t.parts, t.conf.RetentionMs(), t.conf.Int64("retention.bytes")})
	}
	b.mu.RUnlock()
	deleted := 0
	for _, j := range jobs {
		for _, p := range j.parts {
			if p == nil {
				continue
			}
			n, err := p.Retain(j.ms, j.bytes)
			if err != nil {
				b.logger.Error("retention failed", "topic", p.Topic, "partition", p.Index, "err", err)
			}
			deleted += n
		}
	}
	return deleted
}

func (b *Broker) allPartitions() []*partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var ps []*partition.Partition
	for _, t := range b.topics {
		for _, p := range t.parts {
			if p != nil {
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// Close stops the background task and closes every partition (flushing it).
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	b.cleaner.stop()
	return b.closeAll()
}

func (b *Broker) closeAll() error {
	var errs []error
	for _, p := range b.allPartitions() {
		if err := p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w", p.Topic, p.Index, err))
		}
	}
	return errors.Join(errs...)
}
