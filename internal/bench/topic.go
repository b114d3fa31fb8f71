package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newAdmin returns an admin client; close it with its Close method.
func newAdmin(brokers []string) (*kadm.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, fmt.Errorf("bench: admin client: %w", err)
	}
	return kadm.NewClient(cl), nil
}

// topicPartitions returns the sorted partition ids of topic, or
// ErrTopicMissing.
func topicPartitions(ctx context.Context, adm *kadm.Client, topic string) ([]int32, error) {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("bench: metadata for %s: %w", topic, err)
	}
	td, ok := tds[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("%w: %s", ErrTopicMissing, topic)
	}
	if td.Err != nil {
		return nil, fmt.Errorf("bench: metadata for %s: %w", topic, td.Err)
	}
	ids := make([]int32, 0, len(td.Partitions))
	for p := range td.Partitions {
		ids = append(ids, p)
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: %s has no partitions", ErrTopicMissing, topic)
	}
	return ids, nil
}

// EnsureTopic creates topic with the given partition count and replication
// factor (-1: the broker's default) when it does not exist, and returns its
// partition ids and whether it created it; an existing topic is used as it
// is. gregor verify shares it with the benchmarks.
func EnsureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, rf int16, logger *slog.Logger) ([]int32, bool, error) {
	if logger == nil {
		logger = slog.Default()
	}
	c := Common{Topic: topic, Partitions: partitions, ReplicationFactor: rf, Logger: logger}
	return ensureTopic(ctx, adm, &c)
}

// ensureTopic creates the topic when it does not exist and returns its
// partition ids and whether it created it. An existing topic is used as it
// is; a partition count different from the requested one is logged, not
// changed.
func ensureTopic(ctx context.Context, adm *kadm.Client, c *Common) (ids []int32, created bool, err error) {
	ids, err = topicPartitions(ctx, adm, c.Topic)
	if err == nil {
		if int32(len(ids)) != c.Partitions {
			c.Logger.Warn("bench: topic exists with a different partition count; using it as it is",
				"topic", c.Topic, "partitions", len(ids), "requested", c.Partitions)
		}
		return ids, false, nil
	}
	if !errors.Is(err, ErrTopicMissing) {
		return nil, false, err
	}
	resp, err := adm.CreateTopic(ctx, c.Partitions, c.ReplicationFactor, nil, c.Topic)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		// Created concurrently by someone else: its offsets are unknown.
		ids, err = topicPartitions(ctx, adm, c.Topic)
		return ids, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("bench: create topic %s: %w %s", c.Topic, err, resp.ErrMessage)
	}
	c.Logger.Info("bench: created topic", "topic", c.Topic, "partitions", c.Partitions,
		"replication.factor", c.ReplicationFactor)
	// Not listed again: franz-go may answer from metadata cached before the
	// creation, which still says the topic is unknown.
	n := c.Partitions
	if resp.NumPartitions > 0 {
		n = resp.NumPartitions
	}
	ids = make([]int32, n)
	for i := range ids {
		ids[i] = int32(i)
	}
	return ids, true, nil
}

// endOffsets returns the current end offset of each partition as exact
// consume offsets, so a consumer started now sees exactly what is produced
// after this call.
func endOffsets(ctx context.Context, adm *kadm.Client, topic string, ids []int32) (map[int32]kgo.Offset, error) {
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("bench: end offsets of %s: %w", topic, err)
	}
	out := make(map[int32]kgo.Offset, len(ids))
	for _, p := range ids {
		lo, ok := listed.Lookup(topic, p)
		if !ok {
			return nil, fmt.Errorf("bench: no end offset for %s/%d", topic, p)
		}
		if lo.Err != nil {
			return nil, fmt.Errorf("bench: end offset of %s/%d: %w", topic, p, lo.Err)
		}
		out[p] = kgo.NewOffset().At(lo.Offset)
	}
	return out, nil
}

// startOffsets reads every partition from its log start.
func startOffsets(ids []int32) map[int32]kgo.Offset {
	return sameOffset(ids, kgo.NewOffset().AtStart())
}

func sameOffset(ids []int32, o kgo.Offset) map[int32]kgo.Offset {
	out := make(map[int32]kgo.Offset, len(ids))
	for _, p := range ids {
		out[p] = o
	}
	return out
}
