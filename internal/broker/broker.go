// Package broker holds the partitions this broker keeps a replica of: it
// opens (recovering) and closes their logs as the committed metadata says,
// applies topic and dynamic broker configs, hands out producer ids from
// blocks the controller reserves, and runs the periodic flush, checkpoint
// and retention task, the log cleaner and the scrubber.
//
// The broker decides nothing about the cluster's metadata: topics, their
// partitions, configs and replica placement live in the metadata log.
// Admin changes go to the Controller (the cluster layer), which commits them
// to the quorum; the metadata applier then calls ApplyTopic, RemoveTopic and
// ApplyBrokerConfigs here, on every broker alike (a single broker is a
// one-voter quorum over the same path).
//
// Lock order: Broker.mu before any Partition lock. The produce and fetch hot
// paths take Broker.mu only shared, to find a partition; opening and
// deleting logs happen without it.
package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	// ErrNotHosted is a partition this broker holds no replica of.
	ErrNotHosted = errors.New("broker: this broker holds no replica of the partition")
	// ErrNotController is an admin change attempted while the metadata
	// quorum has no reachable leader.
	ErrNotController = errors.New("broker: the metadata quorum leader is not available")
	// ErrProducerIDsUnavailable: no block of producer ids could be had in
	// time (the controller is unreachable and the current block is used up).
	ErrProducerIDsUnavailable = errors.New("broker: no producer id block available")
)

// maxPartitions bounds a topic's partition count so that one request cannot
// make the broker open an unbounded number of files.
const maxPartitions = 10000

// Topic is one topic. Its partitions and configuration are replaced, never
// mutated, under Broker.mu.
type Topic struct {
	Name string
	ID   TopicID

	parts []*partition.Partition // nil where this broker holds no replica
	// offline are the replicas of this broker whose log failed to open,
	// with the error: offline until a restart, as the partitions of a
	// failed log directory in Kafka. Guarded by Broker.mu, as parts.
	offline   map[int32]error
	conf      *config.Topic
	appendCfg atomic.Pointer[partition.AppendConfig]
}

// AppendConfig is the topic configuration the produce path needs, cached.
func (t *Topic) AppendConfig() *partition.AppendConfig { return t.appendCfg.Load() }

// Controller is the metadata quorum as a broker uses it. Every change
// returns once this broker has applied its result.
type Controller interface {
	// CreateTopic places spec's replicas and commits the topic.
	CreateTopic(spec TopicSpec) error
	DeleteTopic(name string) error
	CreatePartitions(name string, total int32) error
	SetTopicConfig(name string, overrides map[string]string) error
	// SetBrokerConfig replaces the dynamic broker configs of resource (""
	// the cluster-wide defaults, else a broker id).
	SetBrokerConfig(resource string, values map[string]string) error
	// LiveBrokers is the number of unfenced brokers.
	LiveBrokers() int
	// AllocateProducerIDs reserves a block of producer ids for this broker.
	AllocateProducerIDs(ctx context.Context) (start int64, n int32, err error)
}

// Options configure Open.
type Options struct {
	FS     storage.FS // nil: the OS
	Now    func() time.Time
	Logger *slog.Logger
	// OnFlush is told the duration of every partition log fsync.
	OnFlush func(time.Duration)
	// OnDamage is told how many damaged ranges a scrub pass found in a
	// partition's log (see scrubber.go).
	OnDamage func(topic string, partition int32, found int)
}

// Broker is the state of one broker. Safe for concurrent use.
type Broker struct {
	cfg      *config.Broker
	fs       storage.FS // files: segment files through the pool
	files    *storage.PooledFS
	dataDir  string
	now      func() time.Time
	logger   *slog.Logger
	onFlush  func(time.Duration)
	onDamage func(topic string, partition int32, found int)

	mu                sync.RWMutex
	topics            map[string]*Topic
	byID              map[TopicID]*Topic
	closed            bool
	ctl               Controller
	topicDeletedHooks []func(topic string) // see OnTopicDeleted

	pids producerIDs

	cleaner  *cleaner  // compaction; see cleaner.go
	scrubber *scrubber // checks data at rest; see scrubber.go

	stop chan struct{}
	done chan struct{}
}

// Open prepares the broker on its data directory. It opens no partition:
// the metadata applier does, as the committed metadata names them.
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
	pool := storage.LimitOpenFiles(o.FS, maxOpenFiles(int(cfg.Int("log.max.open.files"))), o.Logger)
	b := &Broker{
		cfg: cfg, fs: pool, files: pool, dataDir: cfg.DataDir(), now: o.Now, logger: o.Logger, onFlush: o.OnFlush, onDamage: o.OnDamage,
		topics: map[string]*Topic{}, byID: map[TopicID]*Topic{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	b.pids.init(b)
	b.cleaner = newCleaner(b)
	b.scrubber = newScrubber(b)
	if err := b.fs.MkdirAll(b.dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	b.removeDeletedDirs()
	go b.background()
	b.cleaner.start()
	b.scrubber.start()
	return b, nil
}

// SetController attaches the metadata quorum. It must be called before any
// request is served.
func (b *Broker) SetController(c Controller) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ctl = c
}

func (b *Broker) controller() (Controller, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, ErrClosed
	}
	if b.ctl == nil {
		return nil, ErrNotController
	}
	return b.ctl, nil
}

func (b *Broker) partitionDir(topic string, i int32) string { return PartitionDir(b.dataDir, topic, i) }

// PartitionDir is the directory of a partition's replica under a data
// directory.
func PartitionDir(dataDir, topic string, i int32) string {
	return filepath.Join(dataDir, topic+"-"+strconv.Itoa(int(i)))
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

// NodeID is this broker's id.
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

// Partitions returns the topic's partitions (a snapshot; nil entries are
// partitions this broker holds no replica of).
func (b *Broker) Partitions(t *Topic) []*partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return t.parts
}

// PartitionCount is the topic's number of partitions.
func (b *Broker) PartitionCount(t *Topic) int32 { return int32(len(b.Partitions(t))) }

// TopicConfig returns the topic's configuration.
func (b *Broker) TopicConfig(t *Topic) *config.Topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return t.conf
}

// Partition finds a partition by topic name and index.
func (b *Broker) Partition(topic string, index int32) (*Topic, *partition.Partition, error) {
	b.mu.RLock()
	t, ok := b.topics[topic]
	b.mu.RUnlock()
	if !ok {
		return nil, nil, ErrUnknownTopic
	}
	p, err := b.PartitionOf(t, index)
	return t, p, err
}

// PartitionOf finds partition index of a topic already looked up (so that
// a request naming the topic by id reaches that topic, not one recreated
// under its name meanwhile).
func (b *Broker) PartitionOf(t *Topic, index int32) (*partition.Partition, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if index < 0 || int(index) >= len(t.parts) {
		return nil, ErrUnknownTopic
	}
	if t.parts[index] == nil {
		if err := t.offline[index]; err != nil {
			return nil, fmt.Errorf("%w: offline: %w", partition.ErrStorage, err)
		}
		return nil, ErrNotHosted
	}
	return t.parts[index], nil
}

// background runs the periodic tasks until Close: the time-based flush
// policy (flush.ms) every second, producer-state checkpoints every
// log.flush.offset.checkpoint.interval.ms, expiry of idle producer ids every
// producer.id.expiration.check.interval.ms and retention every
// log.retention.check.interval.ms.
func (b *Broker) background() {
	defer close(b.done)
	const tick = time.Second
	every := func(key string) time.Duration {
		return max(time.Duration(b.cfg.Int64(key))*time.Millisecond, tick)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	lastCheckpoint, lastRetention, lastExpiry := b.now(), b.now(), b.now()
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
		if now.Sub(lastExpiry) >= every("producer.id.expiration.check.interval.ms") {
			lastExpiry = now
			ms := b.cfg.Int64("producer.id.expiration.ms")
			for _, p := range b.allPartitions() {
				if n := p.ExpireProducers(ms); n > 0 {
					b.logger.Info("expired idle producer ids", "topic", p.Topic, "partition", p.Index, "producers", n)
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
	b.scrubber.stop()
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

// maxOpenFiles is log.max.open.files, or with 0 half the process's
// open-file limit: the rest is for connections and everything else.
func maxOpenFiles(configured int) int {
	if configured > 0 {
		return configured
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 1024
	}
	return int(max(min(lim.Cur/2, 1<<30), 64))
}

// OpenSegmentFiles reports the segment files open now, the cap and how
// many were closed to keep to it (log.max.open.files).
func (b *Broker) OpenSegmentFiles() storage.PoolStats { return b.files.Stats() }
