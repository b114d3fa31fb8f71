package cluster

// broker.Controller: admin changes from this broker's handlers. On the
// quorum leader they are decided and committed here; elsewhere they are sent
// to the quorum leader's Kafka listener as the same Kafka admin requests a
// client would send, and the broker waits until it has applied the result.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/controller"
)

// adminTimeout bounds an admin change, forwarding and retries included.
const adminTimeout = 30 * time.Second

// viaController runs local on the quorum leader, or remote (a request to the
// quorum leader) elsewhere, retrying while the quorum has no leader or
// leadership moves.
func (n *Node) viaController(ctx context.Context, local func() error, remote func(ctx context.Context, leader int32) error) error {
	for {
		var err error
		switch leader := n.ControllerID(); {
		case leader == n.id:
			err = local()
		case leader < 0:
			err = ErrNotController
		default:
			err = remote(ctx, leader)
		}
		if !errors.Is(err, ErrNotController) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNotController, ctx.Err())
		case <-n.ctx.Done():
			return ErrShuttingDown
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// request sends req to broker id and maps transport failures to
// ErrNotController (the caller retries, maybe with another leader).
func (n *Node) request(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := n.pool.Request(rctx, id, req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotController, err)
	}
	return resp, nil
}

// codeErr turns a forwarded answer's error code back into an error.
func codeErr(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	err := kerr.ErrorForCode(code)
	if errors.Is(err, kerr.NotController) {
		return ErrNotController
	}
	if msg != nil && *msg != "" {
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}

// LiveBrokers implements broker.Controller.
func (n *Node) LiveBrokers() int { return len(n.committed().LiveBrokers()) }

// adminChange makes one admin change: decided and committed here on the
// quorum leader, else sent to it as forward (answer reads its reply); either
// way it returns once applied holds for this broker's image.
func (n *Node) adminChange(decide func(*controller.Image) ([]controller.Record, error), forward kmsg.Request, answer func(kmsg.Response) error, applied func(*controller.Image) bool) error {
	ctx, cancel := context.WithTimeout(n.ctx, adminTimeout)
	defer cancel()
	err := n.viaController(ctx, func() error { return n.decide(decide) }, func(ctx context.Context, leader int32) error {
		resp, err := n.request(ctx, leader, forward)
		if err != nil {
			return err
		}
		return answer(resp)
	})
	if err != nil {
		return err
	}
	return n.waitImage(ctx, applied)
}

// answered checks that a forwarded request was answered for exactly one
// topic or resource.
func answered(api string, n int) error {
	if n != 1 {
		return fmt.Errorf("cluster: %s answered %d entries for one", api, n)
	}
	return nil
}

// CreateTopic implements broker.Controller.
func (n *Node) CreateTopic(spec broker.TopicSpec) error {
	var id [16]byte
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7)
	req.TimeoutMillis = int32(adminTimeout / time.Millisecond)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = spec.Name, spec.Partitions, spec.ReplicationFactor
	if spec.Assignment != nil {
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		for i, rs := range spec.Assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), slices.Clone(rs)
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Configs)) {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(spec.Configs[k])
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	err := n.adminChange(func(img *controller.Image) ([]controller.Record, error) {
		if _, ok := img.Topics[spec.Name]; ok {
			return nil, fmt.Errorf("%w: topic '%s' already exists", broker.ErrTopicExists, spec.Name)
		}
		var parts []controller.Partition
		if spec.Assignment != nil {
			for _, rs := range spec.Assignment {
				for _, r := range rs {
					if _, ok := img.Brokers[r]; !ok {
						return nil, fmt.Errorf("%w: broker %d is not registered", kerr.InvalidReplicaAssignment, r)
					}
				}
			}
			parts = controller.PlacedPartitions(img, spec.Assignment)
		} else {
			assignment, err := controller.Assign(img, spec.Partitions, spec.ReplicationFactor, img.PartitionCount())
			if err != nil {
				return nil, fmt.Errorf("%w: %w", broker.ErrInvalidReplicationFactor, err)
			}
			parts = controller.NewPartitions(assignment)
		}
		rand.Read(id[:])
		t := &controller.Topic{Name: spec.Name, ID: id, Configs: spec.Configs, Partitions: parts}
		return []controller.Record{{Type: controller.RecCreateTopic, Topic: t}}, nil
	}, req, func(resp kmsg.Response) error {
		r := resp.(*kmsg.CreateTopicsResponse)
		if err := answered("CreateTopics", len(r.Topics)); err != nil {
			return err
		}
		id = r.Topics[0].TopicID
		return codeErr(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
	}, func(img *controller.Image) bool {
		t, ok := img.Topics[spec.Name]
		return ok && (id == [16]byte{} || t.ID == id)
	})
	if err == nil {
		n.logger.Info("topic committed", "topic", spec.Name, "partitions", spec.Partitions, "replicationFactor", spec.ReplicationFactor)
	}
	return err
}

// DeleteTopic implements broker.Controller.
func (n *Node) DeleteTopic(name string) error {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.SetVersion(5) // by name
	req.TimeoutMillis = int32(adminTimeout / time.Millisecond)
	req.TopicNames = []string{name}
	return n.adminChange(func(img *controller.Image) ([]controller.Record, error) {
		if _, ok := img.Topics[name]; !ok {
			return nil, broker.ErrUnknownTopic
		}
		return []controller.Record{{Type: controller.RecDeleteTopic, TopicName: name}}, nil
	}, req, func(resp kmsg.Response) error {
		r := resp.(*kmsg.DeleteTopicsResponse)
		if err := answered("DeleteTopics", len(r.Topics)); err != nil {
			return err
		}
		return codeErr(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
	}, func(img *controller.Image) bool {
		_, ok := img.Topics[name]
		return !ok
	})
}

// CreatePartitions implements broker.Controller.
func (n *Node) CreatePartitions(name string, total int32) error {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.SetVersion(3)
	req.TimeoutMillis = int32(adminTimeout / time.Millisecond)
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, total
	req.Topics = append(req.Topics, rt)
	return n.adminChange(func(img *controller.Image) ([]controller.Record, error) {
		t, ok := img.Topics[name]
		if !ok {
			return nil, broker.ErrUnknownTopic
		}
		cur := int32(len(t.Partitions))
		if total <= cur {
			return nil, fmt.Errorf("%w: topic currently has %d partitions, which is higher than the requested %d", broker.ErrInvalidPartitions, cur, total)
		}
		rf := int16(1)
		if cur > 0 {
			rf = int16(len(t.Partitions[0].Replicas))
		}
		assignment, err := controller.Assign(img, total-cur, rf, img.PartitionCount())
		if err != nil {
			return nil, fmt.Errorf("%w: %w", broker.ErrInvalidReplicationFactor, err)
		}
		return []controller.Record{{Type: controller.RecAddPartitions, TopicName: name, Partitions: controller.NewPartitions(assignment)}}, nil
	}, req, func(resp kmsg.Response) error {
		r := resp.(*kmsg.CreatePartitionsResponse)
		if err := answered("CreatePartitions", len(r.Topics)); err != nil {
			return err
		}
		return codeErr(r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage)
	}, func(img *controller.Image) bool {
		t, ok := img.Topics[name]
		return ok && int32(len(t.Partitions)) >= total
	})
}

// SetBrokerConfig implements broker.Controller: the level's whole set,
// what the caller computed.
func (n *Node) SetBrokerConfig(resource string, values map[string]string) error {
	return n.setConfigs(kmsg.ConfigResourceTypeBroker, resource, values, func(*controller.Image) ([]controller.Record, error) {
		return []controller.Record{{Type: controller.RecBrokerConfig, ConfigResource: resource, Configs: values}}, nil
	}, func(img *controller.Image) bool { return maps.Equal(img.BrokerConfigs[resource], values) })
}

// SetTopicConfig implements broker.Controller: the topic's whole set of
// overrides, what the caller computed.
func (n *Node) SetTopicConfig(name string, overrides map[string]string) error {
	return n.setConfigs(kmsg.ConfigResourceTypeTopic, name, overrides, func(img *controller.Image) ([]controller.Record, error) {
		if _, ok := img.Topics[name]; !ok {
			return nil, broker.ErrUnknownTopic
		}
		return []controller.Record{{Type: controller.RecTopicConfig, TopicName: name, Configs: overrides}}, nil
	}, func(img *controller.Image) bool {
		t, ok := img.Topics[name]
		return !ok || maps.Equal(t.Configs, overrides)
	})
}

// setConfigs commits a resource's whole set of configs: decided here on the
// quorum leader, else forwarded as AlterConfigs (which replaces the set).
func (n *Node) setConfigs(typ kmsg.ConfigResourceType, name string, values map[string]string, decide func(*controller.Image) ([]controller.Record, error), applied func(*controller.Image) bool) error {
	req := kmsg.NewPtrAlterConfigsRequest()
	req.SetVersion(2)
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	for _, k := range slices.Sorted(maps.Keys(values)) {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = k, kmsg.StringPtr(values[k])
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	return n.adminChange(decide, req, func(resp kmsg.Response) error {
		r := resp.(*kmsg.AlterConfigsResponse)
		if err := answered("AlterConfigs", len(r.Resources)); err != nil {
			return err
		}
		return codeErr(r.Resources[0].ErrorCode, r.Resources[0].ErrorMessage)
	}, applied)
}

// AllocateProducerIDs implements broker.Controller. A broker not (yet, or
// no longer) registered waits for its registration, bounded by ctx.
func (n *Node) AllocateProducerIDs(ctx context.Context) (int64, int32, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(n.ctx, cancel)
	defer stop()
	for {
		start, size, err := n.allocateProducerIDsOnce(ctx)
		if !errors.Is(err, kerr.StaleBrokerEpoch) && !errors.Is(err, controller.ErrStaleBrokerEpoch) {
			return start, size, err
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("this broker is not registered with the controller: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (n *Node) allocateProducerIDsOnce(ctx context.Context) (int64, int32, error) {
	if n.brokerEpoch.Load() < 0 {
		return 0, 0, controller.ErrStaleBrokerEpoch
	}
	var start int64
	err := n.viaController(ctx, func() error {
		var err error
		start, err = n.allocateProducerIDs(n.id, n.brokerEpoch.Load())
		return err
	}, func(ctx context.Context, leader int32) error {
		req := kmsg.NewPtrAllocateProducerIDsRequest()
		req.BrokerID, req.BrokerEpoch = n.id, n.brokerEpoch.Load()
		resp, err := n.request(ctx, leader, req)
		if err != nil {
			return err
		}
		r := resp.(*kmsg.AllocateProducerIDsResponse)
		start = r.ProducerIDStart
		return codeErr(r.ErrorCode, nil)
	})
	return start, producerIDBlock, err
}

// ElectLeaders runs a preferred or unclean election for the listed
// partitions (all partitions when topics is nil), as the quorum leader;
// the answer maps each partition to its error (nil: elected).
func (n *Node) ElectLeaders(preferred bool, parts []controller.TopicPartition) (map[controller.TopicPartition]error, error) {
	if !n.IsController() {
		return nil, ErrNotController
	}
	out := map[controller.TopicPartition]error{}
	if parts == nil {
		img := n.committed()
		for _, name := range img.TopicNames() {
			for i := range img.Topics[name].Partitions {
				parts = append(parts, controller.TopicPartition{Topic: name, Partition: int32(i)})
			}
		}
	}
	for _, tp := range parts {
		err := n.decide(func(img *controller.Image) ([]controller.Record, error) {
			rec, err := controller.ElectPartition(img, tp.Topic, tp.Partition, preferred)
			if err != nil {
				return nil, err
			}
			return []controller.Record{rec}, nil
		})
		out[tp] = err
	}
	return out, nil
}

// ElectionCode maps an ElectLeaders error to its Kafka code.
func (n *Node) ElectionCode(err error) int16 { return errorCode(err) }

// ForwardToController sends a client's request to the quorum leader and
// returns its answer.
func (n *Node) ForwardToController(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	leader := n.ControllerID()
	if leader < 0 {
		return nil, ErrNotController
	}
	return n.pool.Request(ctx, leader, req)
}
