package broker

import (
	"errors"
	"strconv"
)

// OffsetsTopic is the internal topic holding consumer group metadata and
// committed offsets.
const OffsetsTopic = "__consumer_offsets"

// offsetsTopicSegmentBytes is Kafka's offsets.topic.segment.bytes default:
// the offsets topic rolls smaller segments than user topics so that
// compaction has closed segments to work on.
const offsetsTopicSegmentBytes = 100 << 20

// EnsureOffsetsTopic returns __consumer_offsets, creating it with partitions
// partitions and cleanup.policy=compact if it does not exist yet. Its
// replication factor is offsets.topic.replication.factor, at most the live
// brokers (Kafka would refuse to create the topic until that many brokers
// exist; capping it lets a single broker, or a smaller cluster, serve
// groups, as Redpanda does).
func (b *Broker) EnsureOffsetsTopic(partitions int32) (*Topic, error) {
	if t, ok := b.Topic(OffsetsTopic); ok {
		return t, nil
	}
	ctl, err := b.controller()
	if err != nil {
		return nil, err
	}
	rf := int16(min(b.cfg.Int("offsets.topic.replication.factor"), int32(max(ctl.LiveBrokers(), 1))))
	t, _, err := b.CreateTopic(TopicSpec{
		Name:              OffsetsTopic,
		Partitions:        partitions,
		ReplicationFactor: rf,
		Configs: map[string]string{
			"cleanup.policy":   "compact",
			"compression.type": "producer",
			"segment.bytes":    strconv.Itoa(offsetsTopicSegmentBytes),
		},
	}, false)
	if errors.Is(err, ErrTopicExists) {
		if t, ok := b.Topic(OffsetsTopic); ok {
			return t, nil
		}
	}
	return t, err
}

// OnTopicDeleted registers fn to be called, without any broker lock held,
// after a topic has been deleted. The group coordinator uses it to drop the
// deleted topic's committed offsets, as Kafka does.
func (b *Broker) OnTopicDeleted(fn func(topic string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.topicDeletedHooks = append(b.topicDeletedHooks, fn)
}

func (b *Broker) notifyTopicDeleted(name string) {
	b.mu.RLock()
	hooks := b.topicDeletedHooks
	b.mu.RUnlock()
	for _, fn := range hooks {
		fn(name)
	}
}

// Stopping returns a channel closed when Close begins, so that services
// built on the broker (the group coordinator) stop with it.
func (b *Broker) Stopping() <-chan struct{} { return b.stop }
