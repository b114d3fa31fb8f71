package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
)

// ErrCorruptEntry is a metadata log entry that does not decode.
var ErrCorruptEntry = errors.New("controller: corrupt metadata log entry")

// RecordType names a metadata record.
type RecordType string

// The metadata records. A log entry is a batch of records applied together.
const (
	// RegisterBroker adds or replaces Broker (a new incarnation or address).
	RecRegisterBroker RecordType = "registerBroker"
	// FenceBroker / UnfenceBroker set BrokerID's fenced flag.
	RecFenceBroker   RecordType = "fenceBroker"
	RecUnfenceBroker RecordType = "unfenceBroker"
	// ShutdownBroker marks BrokerID as shutting down (controlled shutdown).
	RecShutdownBroker RecordType = "shutdownBroker"
	// CreateTopic adds Topic.
	RecCreateTopic RecordType = "createTopic"
	// DeleteTopic removes TopicName.
	RecDeleteTopic RecordType = "deleteTopic"
	// AddPartitions appends Partitions to TopicName.
	RecAddPartitions RecordType = "addPartitions"
	// PartitionChange replaces partition Partition of TopicName with State.
	RecPartitionChange RecordType = "partitionChange"
	// TopicConfig replaces TopicName's config overrides with Configs.
	RecTopicConfig RecordType = "topicConfig"
	// BrokerConfig replaces the dynamic broker configs of ConfigResource
	// ("" the cluster-wide defaults, else a broker id) with Configs.
	RecBrokerConfig RecordType = "brokerConfig"
	// ProducerIDs moves the next free producer id to NextProducerID.
	RecProducerIDs RecordType = "producerIds"
	// ClusterID names the cluster (written once, by the first quorum
	// leader, from its own meta.properties).
	RecClusterID RecordType = "clusterId"
)

// Record is one metadata change. Only the fields of its Type are set.
type Record struct {
	Type           RecordType        `json:"type"`
	Broker         *Broker           `json:"broker,omitempty"`
	BrokerID       int32             `json:"brokerId,omitempty"`
	Topic          *Topic            `json:"topic,omitempty"`
	TopicName      string            `json:"topicName,omitempty"`
	Partition      int32             `json:"partition,omitempty"`
	State          *Partition        `json:"state,omitempty"`
	Partitions     []Partition       `json:"partitions,omitempty"`
	Configs        map[string]string `json:"configs,omitempty"`
	NextProducerID int64             `json:"nextProducerId,omitempty"`
	ClusterID      string            `json:"clusterId,omitempty"`
	ConfigResource string            `json:"configResource,omitempty"`
}

// EncodeEntry encodes a batch of records as one log entry.
func EncodeEntry(recs []Record) ([]byte, error) { return json.Marshal(recs) }

// DecodeEntry decodes a log entry.
func DecodeEntry(data []byte) ([]Record, error) {
	var recs []Record
	if err := json.Unmarshal(data, &recs); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptEntry, err)
	}
	return recs, nil
}

// Apply returns the image after recs, at log offset offset. A record that
// does not apply (a topic that no longer exists, say) is skipped and
// reported in skipped; the same log gives the same image on every broker.
func (img *Image) Apply(offset uint64, recs []Record) (next *Image, skipped []error) {
	next = img.clone()
	next.Offset = offset
	next.owned = map[string]bool{}
	for _, r := range recs {
		if err := next.apply(offset, r); err != nil {
			skipped = append(skipped, fmt.Errorf("%s: %w", r.Type, err))
		}
	}
	next.owned = nil
	return next, skipped
}

// topicForWrite returns a private copy of a topic of next for changes,
// copied once per Apply (an entry changing every partition of a topic must
// not copy the topic once per partition).
func (img *Image) topicForWrite(name string) (*Topic, error) {
	t, ok := img.Topics[name]
	if !ok {
		return nil, fmt.Errorf("unknown topic %q", name)
	}
	if img.owned[name] {
		return t, nil
	}
	t = t.clone()
	img.Topics[name] = t
	img.owned[name] = true
	return t, nil
}

func (img *Image) apply(offset uint64, r Record) error {
	switch r.Type {
	case RecRegisterBroker:
		if r.Broker == nil {
			return errors.New("no broker")
		}
		b := *r.Broker
		b.Epoch = int64(offset)
		img.Brokers[b.ID] = &b
	case RecFenceBroker, RecUnfenceBroker, RecShutdownBroker:
		b, ok := img.Brokers[r.BrokerID]
		if !ok {
			return fmt.Errorf("unknown broker %d", r.BrokerID)
		}
		switch r.Type {
		case RecFenceBroker:
			b.Fenced = true
		case RecUnfenceBroker:
			b.Fenced, b.ShuttingDown = false, false
		default:
			b.ShuttingDown = true
		}
	case RecCreateTopic:
		if r.Topic == nil {
			return errors.New("no topic")
		}
		if _, ok := img.Topics[r.Topic.Name]; ok {
			return fmt.Errorf("topic %q exists", r.Topic.Name)
		}
		t := r.Topic.clone()
		img.Topics[t.Name] = t
		img.byID[t.ID] = t.Name
		img.owned[t.Name] = true
	case RecDeleteTopic:
		t, ok := img.Topics[r.TopicName]
		if !ok {
			return fmt.Errorf("unknown topic %q", r.TopicName)
		}
		delete(img.Topics, r.TopicName)
		delete(img.byID, t.ID)
	case RecAddPartitions:
		t, err := img.topicForWrite(r.TopicName)
		if err != nil {
			return err
		}
		for _, p := range r.Partitions {
			t.Partitions = append(t.Partitions, p.clone())
		}
	case RecPartitionChange:
		t, err := img.topicForWrite(r.TopicName)
		if err != nil {
			return err
		}
		if r.State == nil || r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
			return fmt.Errorf("bad partition change for %s-%d", r.TopicName, r.Partition)
		}
		t.Partitions[r.Partition] = r.State.clone()
	case RecTopicConfig:
		t, err := img.topicForWrite(r.TopicName)
		if err != nil {
			return err
		}
		t.Configs = maps.Clone(r.Configs)
	case RecClusterID:
		if img.ClusterID != "" {
			return fmt.Errorf("cluster id is %s already", img.ClusterID)
		}
		img.ClusterID = r.ClusterID
	case RecBrokerConfig:
		if img.BrokerConfigs == nil {
			img.BrokerConfigs = map[string]map[string]string{}
		}
		if len(r.Configs) == 0 {
			delete(img.BrokerConfigs, r.ConfigResource)
		} else {
			img.BrokerConfigs[r.ConfigResource] = maps.Clone(r.Configs)
		}
	case RecProducerIDs:
		if r.NextProducerID < img.NextProducerID {
			return fmt.Errorf("producer ids would move back from %d to %d", img.NextProducerID, r.NextProducerID)
		}
		img.NextProducerID = r.NextProducerID
	default:
		return fmt.Errorf("unknown record type %q", r.Type)
	}
	return nil
}

// EncodeSnapshot and DecodeSnapshot persist a whole image.
func EncodeSnapshot(img *Image) ([]byte, error) { return json.Marshal(img) }

// DecodeSnapshot decodes an image written by EncodeSnapshot.
func DecodeSnapshot(data []byte) (*Image, error) {
	img := NewImage()
	if err := json.Unmarshal(data, img); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %v", ErrCorruptEntry, err)
	}
	// EncodeSnapshot keys brokers by id and topics by name; anything else
	// (a null entry, say) is not one of its snapshots.
	for id, b := range img.Brokers {
		if b == nil || b.ID != id {
			return nil, fmt.Errorf("%w: snapshot: broker entry %d holds %+v", ErrCorruptEntry, id, b)
		}
	}
	for name, t := range img.Topics {
		if t == nil || t.Name != name {
			return nil, fmt.Errorf("%w: snapshot: topic entry %q holds %+v", ErrCorruptEntry, name, t)
		}
	}
	img.reindex()
	return img, nil
}
