package handlers

// CreateTopics, key 19, versions 0-7.
//
// v1 adds validate_only and a per-topic error message; v2 the throttle time
// (v3: answered before throttling); v4 (KIP-464) lets num_partitions and
// replication_factor be -1 for the broker defaults; v5 (KIP-525) is flexible
// and returns the topic's partition count, replication factor and configs;
// v6 (KIP-599) may answer THROTTLING_QUOTA_EXCEEDED (never here); v7
// (KIP-516) returns the topic id.
//
// As Kafka's controller does: a name given twice in one request is answered
// once, INVALID_REQUEST; __cluster_metadata may not be created; then each
// topic's name is validated, an existing topic is TOPIC_ALREADY_EXISTS,
// configs are validated (a null value is INVALID_CONFIG), and only then the
// partition layout. A manual replica assignment needs num_partitions and
// replication_factor at -1, partition indexes 0..n-1 each once, and replica
// lists naming this broker exactly once (the only broker there is). -1 means
// the broker default at every version, as Kafka's controller treats it.
// Creation is synchronous, so TimeoutMillis is not needed. validate_only
// answers exactly as a real creation would, without a topic id.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/server"
)

// clusterMetadataTopic is KRaft's metadata log, never a user topic.
const clusterMetadataTopic = "__cluster_metadata"

// apiError is a Kafka error code with the message Kafka puts in the
// response's ErrorMessage for it. errCode finds the code through Unwrap.
type apiError struct {
	code *kerr.Error
	msg  string
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.code }

func apiErrorf(code *kerr.Error, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (h *Handlers) createTopics(_ context.Context, _ *server.Request, req *kmsg.CreateTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	eachTopicOnce(len(req.Topics), func(i int) string { return req.Topics[i].Topic }, func(i int, dup bool) {
		rt := &req.Topics[i]
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		err := errDuplicateTopic
		if !dup {
			err = h.createTopic(rt, req.ValidateOnly, &st)
		}
		if err != nil {
			st.ErrorCode = h.errCode(err)
			st.ErrorMessage = errMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	})
	return resp, nil
}

// errDuplicateTopic answers a topic named twice in one request, once.
var errDuplicateTopic = apiErrorf(kerr.InvalidRequest, "Duplicate topic name.")

// eachTopicOnce calls fn once per distinct topic name of a request, in
// request order, with dup set when the request names it more than once:
// Kafka answers such a topic a single INVALID_REQUEST.
func eachTopicOnce(n int, name func(i int) string, fn func(i int, dup bool)) {
	count := make(map[string]int, n)
	for i := 0; i < n; i++ {
		count[name(i)]++
	}
	answered := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		if answered[name(i)] {
			continue
		}
		answered[name(i)] = true
		fn(i, count[name(i)] > 1)
	}
}

// createTopic creates (or validates) one topic and fills in st's success
// fields.
func (h *Handlers) createTopic(rt *kmsg.CreateTopicsRequestTopic, validateOnly bool, st *kmsg.CreateTopicsResponseTopic) error {
	if rt.Topic == clusterMetadataTopic {
		return apiErrorf(kerr.InvalidRequest, "Creation of internal topic %s is prohibited.", clusterMetadataTopic)
	}
	if err := broker.ValidateTopicName(rt.Topic); err != nil {
		return err
	}
	if _, ok := h.b.Topic(rt.Topic); ok {
		return fmt.Errorf("%w: topic '%s' already exists", broker.ErrTopicExists, rt.Topic)
	}
	configs, err := creationConfigs(rt.Configs)
	if err != nil {
		return err
	}
	if err := config.ValidateTopicConfigs(h.b.Config(), configs); err != nil {
		return err
	}
	spec := broker.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, Configs: configs}
	switch {
	case len(rt.ReplicaAssignment) > 0:
		if spec.Assignment, err = h.manualAssignment(rt); err != nil {
			return err
		}
		spec.Partitions, spec.ReplicationFactor = int32(len(spec.Assignment)), int16(len(spec.Assignment[0]))
	case rt.ReplicationFactor < -1 || rt.ReplicationFactor == 0:
		return fmt.Errorf("%w: replication factor must be larger than 0, or -1 to use the default value", broker.ErrInvalidReplicationFactor)
	case rt.NumPartitions < -1 || rt.NumPartitions == 0:
		return fmt.Errorf("%w: number of partitions was set to an invalid non-positive value", broker.ErrInvalidPartitions)
	}
	t, spec, err := h.b.CreateTopic(spec, validateOnly)
	if err != nil {
		return err
	}
	var entries []config.Entry
	if t != nil {
		st.TopicID = t.ID
		entries = h.b.TopicConfig(t).Entries()
	} else {
		entries = config.NewTopic(h.b.Config(), spec.Configs).Entries()
	}
	st.NumPartitions, st.ReplicationFactor = spec.Partitions, spec.ReplicationFactor
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.Sensitive
		c.Source = int8(e.Source)
		st.Configs = append(st.Configs, c)
	}
	return nil
}

// creationConfigs turns a request's configs into overrides; Kafka refuses
// null values, naming them all. A key given twice keeps its last value.
func creationConfigs(cs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, error) {
	m := make(map[string]string, len(cs))
	var nulls []string
	for _, c := range cs {
		if c.Value == nil {
			nulls = append(nulls, c.Name)
			continue
		}
		m[c.Name] = *c.Value
	}
	if len(nulls) > 0 {
		return nil, apiErrorf(kerr.InvalidConfig, "Null value not supported for topic configs: %s", strings.Join(nulls, ","))
	}
	return m, nil
}

// manualAssignment checks an explicit replica assignment and returns the
// replicas of each partition, in partition order.
func (h *Handlers) manualAssignment(rt *kmsg.CreateTopicsRequestTopic) ([][]int32, error) {
	if rt.ReplicationFactor != -1 {
		return nil, apiErrorf(kerr.InvalidRequest, "A manual partition assignment was specified, but replication factor was not set to -1.")
	}
	if rt.NumPartitions != -1 {
		return nil, apiErrorf(kerr.InvalidRequest, "A manual partition assignment was specified, but numPartitions was not set to -1.")
	}
	byPartition := make(map[int32][]int32, len(rt.ReplicaAssignment))
	for _, a := range rt.ReplicaAssignment {
		if _, dup := byPartition[a.Partition]; dup {
			return nil, apiErrorf(kerr.InvalidReplicaAssignment, "Found multiple manual partition assignments for partition %d", a.Partition)
		}
		if err := h.checkReplicas(a.Replicas); err != nil {
			return nil, err
		}
		byPartition[a.Partition] = a.Replicas
	}
	out := make([][]int32, len(byPartition))
	for i := range out {
		rs, ok := byPartition[int32(i)]
		if !ok {
			return nil, apiErrorf(kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
		}
		if len(rs) != len(out[0]) && i > 0 {
			return nil, apiErrorf(kerr.InvalidReplicaAssignment, "All partitions in the manual partition assignment must have the same number of replicas.")
		}
		out[i] = slices.Clone(rs)
	}
	return out, nil
}

// checkReplicas validates one partition's manual replica list: registered
// brokers (of the metadata this broker applied), none twice.
func (h *Handlers) checkReplicas(replicas []int32) error {
	if len(replicas) == 0 {
		return apiErrorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	img := h.cluster.Image()
	sorted := slices.Sorted(slices.Values(replicas))
	for i, id := range sorted {
		if _, ok := img.Brokers[id]; !ok {
			return apiErrorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if i > 0 && sorted[i-1] == id {
			return apiErrorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", id)
		}
	}
	return nil
}

// sortedKeys returns m's keys in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
