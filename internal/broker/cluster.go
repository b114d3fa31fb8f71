package broker

// Cluster mode. With a Controller set (before serving), topics, partition
// counts and topic configs are not this broker's to decide: they live in the
// replicated metadata log. Admin changes go to the Controller, which commits
// them to the quorum; every broker (this one included) then applies the
// committed metadata through ApplyTopic and RemoveTopic, opening only the
// partitions it holds a replica of. Partitions it holds no replica of are nil
// in Topic.parts (Partition answers ErrNotHosted). topics.json then keeps
// only the dynamic broker configs.

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/partition"
)

// ErrNotHosted is a partition this broker holds no replica of.
var ErrNotHosted = errors.New("broker: this broker holds no replica of the partition")

// ErrNotController is an admin change attempted while the metadata quorum
// has no reachable leader.
var ErrNotController = errors.New("broker: the metadata quorum leader is not available")

// Controller is the metadata quorum as a broker uses it.
type Controller interface {
	// CreateTopic places spec's replicas and commits the topic; it returns
	// once this broker has applied it.
	CreateTopic(spec TopicSpec) error
	DeleteTopic(name string) error
	CreatePartitions(name string, total int32) error
	SetTopicConfig(name string, overrides map[string]string) error
	// LiveBrokers is the number of unfenced brokers.
	LiveBrokers() int
	// AllocateProducerIDs reserves a block of producer ids for this broker.
	AllocateProducerIDs() (start int64, n int32, err error)
}

// SetController switches the broker to cluster mode. It must be called
// before any request is served; the broker must have been opened with
// Options.Clustered.
func (b *Broker) SetController(c Controller) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ctl = c
}

// Clustered reports whether the broker runs in cluster mode.
func (b *Broker) Clustered() bool { return b.clustered }

func (b *Broker) controller() Controller {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.ctl
}

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
// partitions this broker holds opened (recovering them) or, when it no
// longer holds them, closed and deleted. Called by the metadata applier
// only.
func (b *Broker) ApplyTopic(s TopicState) error {
	b.mu.Lock()
	t, ok := b.topics[s.Name]
	if ok && t.ID != s.ID {
		b.mu.Unlock()
		b.RemoveTopic(s.Name)
		b.mu.Lock()
		t, ok = nil, false
	}
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if !ok {
		t = &Topic{Name: s.Name, ID: s.ID, conf: config.NewTopic(b.cfg, s.Configs)}
		t.appendCfg.Store(appendConfig(t.conf))
	} else if !maps.Equal(t.conf.Overrides(), s.Configs) {
		t.conf = config.NewTopic(b.cfg, s.Configs)
		b.applyTopicConfigLocked(t)
	}
	parts := slices.Clone(t.parts)
	for int32(len(parts)) < s.Partitions {
		parts = append(parts, nil)
	}
	var errs []error
	for i := int32(0); i < s.Partitions; i++ {
		switch local := s.Local(i); {
		case local && parts[i] == nil:
			p, err := b.openPartition(t, i)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			parts[i] = p
		case !local && parts[i] != nil:
			if err := parts[i].Delete(); err != nil {
				b.logger.Warn("deleting a replica this broker no longer holds", "topic", s.Name, "partition", i, "err", err)
			}
			parts[i] = nil
		}
	}
	t.parts = parts
	if !ok {
		b.topics[t.Name], b.byID[t.ID] = t, t
		b.logger.Info("topic applied", "topic", t.Name, "id", t.ID.String(), "partitions", s.Partitions)
	}
	return errors.Join(errs...)
}

// RemoveTopic deletes a topic the committed metadata no longer has, with
// its local data. Called by the metadata applier only.
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

// clusterCreateTopic is CreateTopic in cluster mode, after the checks that
// do not depend on the cluster.
func (b *Broker) clusterCreateTopic(ctl Controller, spec TopicSpec, validateOnly bool) (*Topic, TopicSpec, error) {
	if live := ctl.LiveBrokers(); int(spec.ReplicationFactor) > live {
		return nil, spec, fmt.Errorf("%w: replication factor: %d larger than available brokers: %d", ErrInvalidReplicationFactor, spec.ReplicationFactor, live)
	}
	if validateOnly {
		return nil, spec, nil
	}
	if err := ctl.CreateTopic(spec); err != nil {
		return nil, spec, err
	}
	t, ok := b.Topic(spec.Name)
	if !ok {
		return nil, spec, fmt.Errorf("%w: %q was created but is not applied here yet", ErrUnknownTopic, spec.Name)
	}
	return t, spec, nil
}

// clusterAllocateProducerID hands out ids from blocks the controller
// reserves for this broker.
func (b *Broker) clusterAllocateProducerID(ctl Controller) (int64, error) {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	if b.nextPID >= b.pidBlockEnd {
		start, n, err := ctl.AllocateProducerIDs()
		if err != nil {
			return -1, err
		}
		b.nextPID, b.pidBlockEnd = start, start+int64(n)
	}
	id := b.nextPID
	b.nextPID++
	return id, nil
}
