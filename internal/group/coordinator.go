package group

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
)

// Config holds the broker settings the coordinator follows.
type Config struct {
	Partitions             int32         // offsets.topic.num.partitions, used when the topic is created
	InitialRebalanceDelay  time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout      time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout      time.Duration // group.max.session.timeout.ms
	MaxSize                int           // group.max.size
	OffsetsRetention       time.Duration // offsets.retention.minutes
	RetentionCheckInterval time.Duration // offsets.retention.check.interval.ms
	MaxMetadataBytes       int           // offset.metadata.max.bytes
	TickInterval           time.Duration // how often Start's task checks deadlines
}

// maxMetadataBytes is Kafka's offset.metadata.max.bytes default; the key is
// not among the broker's configuration keys yet.
const maxMetadataBytes = 4096

// defaultTickInterval is how often deadlines are checked: a timeout fires at
// most this late.
const defaultTickInterval = 100 * time.Millisecond

// ConfigFrom reads the coordinator's settings from the broker configuration.
func ConfigFrom(b *config.Broker) Config {
	ms := func(key string) time.Duration { return time.Duration(b.Int64(key)) * time.Millisecond }
	return Config{
		Partitions:             b.Int("offsets.topic.num.partitions"),
		InitialRebalanceDelay:  ms("group.initial.rebalance.delay.ms"),
		MinSessionTimeout:      ms("group.min.session.timeout.ms"),
		MaxSessionTimeout:      ms("group.max.session.timeout.ms"),
		MaxSize:                int(b.Int("group.max.size")),
		OffsetsRetention:       time.Duration(b.Int64("offsets.retention.minutes")) * time.Minute,
		RetentionCheckInterval: ms("offsets.retention.check.interval.ms"),
		MaxMetadataBytes:       maxMetadataBytes,
		TickInterval:           defaultTickInterval,
	}
}

// Options configure New.
type Options struct {
	Clock  Clock // nil: the system clock
	Logger *slog.Logger
	// Random supplies the random part of member ids; nil: crypto/rand.
	Random io.Reader
	// Stopping, when closed, stops the background task and unloads every
	// shard (the broker under the coordinator is closing).
	Stopping <-chan struct{}
	// SelfElect: Load and the creation of the offsets topic elect every
	// partition at once (a store without a cluster, in tests). Otherwise
	// partitions are elected and resigned by the cluster as their
	// leadership moves (Elect, Resign).
	SelfElect bool
	// OnRebalance is called when a group starts a rebalance (metrics).
	OnRebalance func()
}

// Coordinator is the group coordinator of one broker. Safe for concurrent
// use.
type Coordinator struct {
	cfg      Config
	store    Store
	clock    Clock
	logger   *slog.Logger
	stopping <-chan struct{}
	opts     Options

	randMu sync.Mutex
	random io.Reader

	createMu sync.Mutex // serialises creating the offsets topic

	mu     sync.RWMutex
	n      int32    // partitions of the offsets topic (the configured count until it exists)
	exists bool     // the offsets topic exists and its shards have been elected
	shards []*shard // by partition; nil where this broker is not the leader
	closed bool

	tickMu        sync.Mutex // one Tick at a time
	nextRetention time.Time

	startOnce sync.Once
	started   atomic.Bool
	stopOnce  sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// New returns a coordinator over store. Call Load (or Start) before use.
func New(cfg Config, store Store, o Options) *Coordinator {
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Random == nil {
		o.Random = rand.Reader
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = defaultTickInterval
	}
	if cfg.MaxMetadataBytes <= 0 {
		cfg.MaxMetadataBytes = maxMetadataBytes
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 50
	}
	c := &Coordinator{
		cfg: cfg, store: store, clock: o.Clock, logger: o.Logger, random: o.Random, stopping: o.Stopping, opts: o,
		n: cfg.Partitions, stop: make(chan struct{}), done: make(chan struct{}),
	}
	c.nextRetention = c.clock.Now().Add(cfg.RetentionCheckInterval)
	return c
}

// NewForBroker returns a coordinator for b's own __consumer_offsets, with
// b's configuration, that stops when b closes; deleting a topic drops its
// committed offsets.
func NewForBroker(b *broker.Broker, logger *slog.Logger, onRebalance func()) *Coordinator {
	c := New(ConfigFrom(b.Config()), BrokerStore{B: b}, Options{Logger: logger, Stopping: b.Stopping(), OnRebalance: onRebalance})
	b.OnTopicDeleted(c.TopicDeleted)
	return c
}

// Load notes the offsets topic's partition count, if it exists, and with
// SelfElect elects (loads) every partition.
func (c *Coordinator) Load() error {
	n := c.store.Partitions()
	if n == 0 {
		return nil
	}
	c.mu.Lock()
	c.n = n
	c.mu.Unlock()
	for p := int32(0); p < n && c.opts.SelfElect; p++ {
		if err := c.Elect(p); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.exists = true
	c.mu.Unlock()
	return nil
}

// Start loads the shards and starts the task that checks deadlines and
// expires offsets. Close (or the Stopping channel) stops it.
func (c *Coordinator) Start() error {
	if err := c.Load(); err != nil {
		return err
	}
	c.startOnce.Do(func() {
		c.started.Store(true)
		go c.run()
	})
	return nil
}

func (c *Coordinator) run() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.stopping:
			c.shutdown()
			return
		case <-t.C:
			c.Tick()
		}
	}
}

// Close stops the background task and unloads every shard: requests still
// waiting are answered NOT_COORDINATOR.
func (c *Coordinator) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	if c.started.Load() {
		<-c.done
	}
	c.shutdown()
}

func (c *Coordinator) shutdown() {
	c.mu.Lock()
	c.closed = true
	shards := c.shards
	c.shards = nil
	c.mu.Unlock()
	for _, s := range shards {
		if s != nil {
			s.unload()
		}
	}
}

// Elect makes this broker the coordinator of partition p: its shard is
// loaded from the log (requests for its groups meanwhile get
// COORDINATOR_LOAD_IN_PROGRESS).
func (c *Coordinator) Elect(p int32) error {
	log, err := c.store.Log(p)
	if err != nil {
		return fmt.Errorf("group: electing __consumer_offsets-%d: %w", p, err)
	}
	s := newShard(c, p, log)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrCoordinatorNotAvailable
	}
	for int(p) >= len(c.shards) {
		c.shards = append(c.shards, nil)
	}
	old := c.shards[p]
	c.shards[p] = s
	c.mu.Unlock()
	if old != nil {
		old.unload()
	}
	if err := s.load(); err != nil {
		c.mu.Lock()
		if int(p) < len(c.shards) && c.shards[p] == s {
			c.shards[p] = nil
		}
		c.mu.Unlock()
		s.unload()
		return fmt.Errorf("group: loading __consumer_offsets-%d: %w", p, err)
	}
	return nil
}

// Resign stops coordinating the groups of partition p: they are dropped
// from memory (their log stays) and waiting requests get NOT_COORDINATOR.
func (c *Coordinator) Resign(p int32) {
	c.mu.Lock()
	var s *shard
	if int(p) < len(c.shards) {
		s, c.shards[p] = c.shards[p], nil
	}
	c.mu.Unlock()
	if s != nil {
		s.unload()
	}
}

// EnsureTopic creates the offsets topic if it does not exist yet (in a
// cluster, FindCoordinator needs it to name the coordinator).
func (c *Coordinator) EnsureTopic() error { return c.ensureTopic() }

// ensureTopic creates the offsets topic and elects its partitions if that
// has not happened yet.
func (c *Coordinator) ensureTopic() error {
	c.createMu.Lock()
	defer c.createMu.Unlock()
	c.mu.RLock()
	exists, closed, n := c.exists, c.closed, c.n
	c.mu.RUnlock()
	switch {
	case closed:
		return ErrCoordinatorNotAvailable
	case exists:
		return nil
	}
	got, err := c.store.Create(n)
	if err != nil {
		return fmt.Errorf("%w: creating %s: %w", ErrCoordinatorNotAvailable, broker.OffsetsTopic, err)
	}
	c.mu.Lock()
	c.n = got
	c.mu.Unlock()
	for p := int32(0); p < got && c.opts.SelfElect; p++ {
		if err := c.Elect(p); err != nil {
			c.logger.Error("electing a new __consumer_offsets partition", "partition", p, "err", err)
			return fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
		}
	}
	c.mu.Lock()
	c.exists = true
	c.mu.Unlock()
	c.logger.Info("created the offsets topic", "topic", broker.OffsetsTopic, "partitions", got)
	return nil
}

// shardFor finds the shard of group id. Without the offsets topic it
// returns nil, nil (no group exists) unless create is set, which creates
// the topic first.
func (c *Coordinator) shardFor(id string, create bool) (*shard, error) {
	c.mu.RLock()
	closed, exists := c.closed, c.exists
	c.mu.RUnlock()
	if closed {
		return nil, ErrCoordinatorNotAvailable
	}
	if !exists {
		if !create {
			return nil, nil
		}
		if err := c.ensureTopic(); err != nil {
			return nil, err
		}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrCoordinatorNotAvailable
	}
	if !c.exists {
		return nil, ErrCoordinatorNotAvailable // the topic went away meanwhile
	}
	p := PartitionFor(id, c.n)
	if int(p) >= len(c.shards) || c.shards[p] == nil {
		return nil, ErrNotCoordinator
	}
	return c.shards[p], nil
}

// lockShard finds and locks the shard of group id, without creating the
// offsets topic: nil, nil when the topic does not exist (so neither does
// the group). On success the caller holds s.mu.
func (c *Coordinator) lockShard(id string) (*shard, error) {
	s, err := c.shardFor(id, false)
	if err != nil || s == nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	return s, nil
}

// activeShards is a snapshot of the shards this broker leads.
func (c *Coordinator) activeShards() []*shard {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*shard
	for _, s := range c.shards {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// PartitionOf is the __consumer_offsets partition of group id.
func (c *Coordinator) PartitionOf(id string) int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return PartitionFor(id, c.n)
}

// FindCoordinator reports whether this broker coordinates group id,
// creating the offsets topic if needed, as Kafka's FindCoordinator does.
func (c *Coordinator) FindCoordinator(id string) error {
	_, err := c.shardFor(id, true)
	return err
}

// Tick checks every deadline against the clock: expired sessions, pending
// members, rebalance and sync timeouts, the initial rebalance delay; and,
// every offsets.retention.check.interval.ms, expires old offsets.
func (c *Coordinator) Tick() {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	now := c.clock.Now()
	shards := c.activeShards()
	for _, s := range shards {
		s.tick(now)
	}
	if now.Before(c.nextRetention) {
		return
	}
	c.nextRetention = now.Add(c.cfg.RetentionCheckInterval)
	for _, s := range shards {
		s.expireOffsets(now)
	}
}

// TopicDeleted drops every committed offset of topic (writing tombstones),
// as Kafka does when a topic is deleted. Deleting __consumer_offsets itself
// unloads every group; the topic is created again when next needed.
func (c *Coordinator) TopicDeleted(topic string) {
	if topic == broker.OffsetsTopic {
		c.mu.Lock()
		shards := c.shards
		c.shards, c.exists, c.n = nil, false, c.cfg.Partitions
		c.mu.Unlock()
		for _, s := range shards {
			if s != nil {
				s.unload()
			}
		}
		c.logger.Warn("the offsets topic was deleted: every group and committed offset is gone", "topic", topic)
		return
	}
	for _, s := range c.activeShards() {
		s.deleteTopic(topic)
	}
}

// newMemberID is prefix-uuid, as Kafka builds member ids (prefix: the
// client id, or the group instance id of a static member).
func (c *Coordinator) newMemberID(prefix string) string {
	var u [16]byte
	c.randMu.Lock()
	_, err := io.ReadFull(c.random, u[:])
	c.randMu.Unlock()
	if err != nil {
		panic(fmt.Sprintf("group: reading random bytes: %v", err))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}
