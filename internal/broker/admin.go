package broker

// Admin changes: validated here with Kafka's rules, then committed by the
// Controller to the metadata log. Nothing changes locally until the
// applier applies the committed result (apply.go).

import (
	"errors"
	"fmt"
	"maps"

	"github.com/gregor-dev/gregor/internal/config"
)

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int32 // -1: num.partitions
	ReplicationFactor int16 // -1: default.replication.factor
	Configs           map[string]string
	// Assignment, if set, places each partition's replicas (the first is
	// the preferred leader) instead of the controller; Partitions and
	// ReplicationFactor then follow from it.
	Assignment [][]int32
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
	if err := config.ValidateTopicConfigs(b.cfg, spec.Configs); err != nil {
		return nil, spec, err
	}
	if err := b.checkNewTopicName(spec.Name); err != nil {
		return nil, spec, err
	}
	ctl, err := b.controller()
	if err != nil {
		return nil, spec, err
	}
	if live := ctl.LiveBrokers(); spec.Assignment == nil && int(spec.ReplicationFactor) > live {
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

// checkNewTopicName refuses a name taken, or colliding with a topic's name.
func (b *Broker) checkNewTopicName(name string) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
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
// The replication factor is default.replication.factor, at most the live
// brokers (Kafka refuses instead; a topic that exists beats a refusal).
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

// DeleteTopic removes a topic and, once committed, its data on every broker.
func (b *Broker) DeleteTopic(name string) (TopicID, error) {
	if !b.cfg.Bool("delete.topic.enable") {
		return TopicID{}, ErrDeletionDisabled
	}
	ctl, err := b.controller()
	if err != nil {
		return TopicID{}, err
	}
	t, ok := b.Topic(name)
	if !ok {
		return TopicID{}, ErrUnknownTopic
	}
	return t.ID, ctl.DeleteTopic(name)
}

// CreatePartitions grows a topic to total partitions.
func (b *Broker) CreatePartitions(name string, total int32, validateOnly bool) error {
	ctl, err := b.controller()
	if err != nil {
		return err
	}
	t, ok := b.Topic(name)
	if !ok {
		return ErrUnknownTopic
	}
	if err := checkPartitionCount(b.PartitionCount(t), total); err != nil || validateOnly {
		return err
	}
	return ctl.CreatePartitions(name, total)
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
// them.
func (b *Broker) SetTopicConfig(name string, overrides map[string]string, validateOnly bool) error {
	return b.UpdateTopicConfig(name, func(map[string]string) (map[string]string, error) { return overrides, nil }, validateOnly)
}

// UpdateTopicConfig computes the topic's new overrides from its current ones
// with edit, validates them and commits the whole set. (Two incremental
// changes racing each other through different brokers may lose one: the
// last committed set wins.)
func (b *Broker) UpdateTopicConfig(name string, edit func(cur map[string]string) (map[string]string, error), validateOnly bool) error {
	ctl, err := b.controller()
	if err != nil {
		return err
	}
	t, ok := b.Topic(name)
	if !ok {
		return ErrUnknownTopic
	}
	overrides, err := edit(b.TopicConfig(t).Overrides())
	if err != nil {
		return err
	}
	if err := config.ValidateTopicConfigs(b.cfg, overrides); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	return ctl.SetTopicConfig(name, overrides)
}

// UpdateDynamicConfig makes values the whole set of dynamic broker configs
// of resource ("" the cluster-wide defaults, src
// SourceDynamicDefaultBrokerConfig; a broker id its own,
// SourceDynamicBrokerConfig). The set is validated here, committed to the
// metadata log (so it survives restarts and reaches the brokers it
// concerns) and applied by them once committed.
func (b *Broker) UpdateDynamicConfig(resource string, src config.Source, values map[string]string, validateOnly bool) error {
	if err := b.cfg.UpdateDynamic(src, stringPtrs(values), true); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	ctl, err := b.controller()
	if err != nil {
		return err
	}
	return ctl.SetBrokerConfig(resource, values)
}

// ApplyBrokerConfigs installs the committed dynamic broker configs: the
// cluster-wide defaults and this broker's own. Called by the metadata
// applier only.
func (b *Broker) ApplyBrokerConfigs(defaults, own map[string]string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	changed := false
	for src, values := range map[config.Source]map[string]string{
		config.SourceDynamicDefaultBrokerConfig: defaults, config.SourceDynamicBrokerConfig: own,
	} {
		cur := b.cfg.DynamicValues(src)
		if maps.Equal(cur, values) {
			continue
		}
		changes := stringPtrs(values)
		for k := range cur {
			if _, ok := values[k]; !ok {
				changes[k] = nil
			}
		}
		if err := b.cfg.UpdateDynamic(src, changes, false); err != nil {
			return fmt.Errorf("broker: committed dynamic broker configs (%s): %w", src, err)
		}
		changed = true
	}
	if changed {
		for _, t := range b.topics {
			b.applyTopicConfigLocked(t)
		}
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
