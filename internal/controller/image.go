// Package controller holds the cluster metadata: the records of the Raft
// metadata log, the in-memory image every broker builds by applying them in
// log order, and the decisions the quorum leader takes (replica placement,
// leader election, fencing, ISR changes) which it writes as records.
//
// Invariants: Apply is deterministic, depends only on the image and the
// records (no clock, no randomness, no I/O), and never mutates an image
// another goroutine may hold: it returns a new one (copy on write). Every
// decision function is pure too; the leader turns its result into a log
// entry, so followers never decide anything themselves.
package controller

import (
	"maps"
	"slices"
)

// Broker is a registered broker.
type Broker struct {
	ID             int32  `json:"id"`
	Host           string `json:"host"`
	Port           int32  `json:"port"`
	Rack           string `json:"rack,omitempty"`
	ControllerAddr string `json:"controller,omitempty"` // Raft address
	Incarnation    string `json:"incarnation"`          // changes at every process start
	Epoch          int64  `json:"epoch"`                // the metadata offset of its registration
	Fenced         bool   `json:"fenced,omitempty"`
	// ShuttingDown is set by a controlled shutdown: the broker leads
	// nothing and is in no ISR until it registers again.
	ShuttingDown bool `json:"shuttingDown,omitempty"`
}

// Partition is one partition's replica state.
type Partition struct {
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"` // -1: no leader
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
}

func (p Partition) clone() Partition {
	p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
	return p
}

// InISR reports whether id is in the ISR.
func (p *Partition) InISR(id int32) bool { return slices.Contains(p.ISR, id) }

// IsReplica reports whether id holds a replica.
func (p *Partition) IsReplica(id int32) bool { return slices.Contains(p.Replicas, id) }

// Topic is a topic and its partitions.
type Topic struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Configs    map[string]string `json:"configs,omitempty"`
	Partitions []Partition       `json:"partitions"`
}

func (t *Topic) clone() *Topic {
	c := *t
	c.Configs = maps.Clone(t.Configs)
	c.Partitions = make([]Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		c.Partitions[i] = p.clone()
	}
	return &c
}

// Image is the metadata at one offset of the metadata log. Never mutated
// once published.
type Image struct {
	Offset         uint64            `json:"offset"` // Raft index of the last applied entry
	ClusterID      string            `json:"clusterId,omitempty"`
	Brokers        map[int32]*Broker `json:"brokers"`
	Topics         map[string]*Topic `json:"topics"`
	NextProducerID int64             `json:"nextProducerId"`
	// BrokerConfigs are the dynamic broker configs by resource name, as
	// Kafka's ConfigRecord names them: "" the cluster-wide defaults, a
	// broker id in decimal that broker's own.
	BrokerConfigs map[string]map[string]string `json:"brokerConfigs,omitempty"`
	byID          map[[16]byte]string          // derived
	owned         map[string]bool              // topics already copied by the Apply under way
}

// NewImage is the empty image.
func NewImage() *Image {
	return &Image{Brokers: map[int32]*Broker{}, Topics: map[string]*Topic{}, byID: map[[16]byte]string{}}
}

func (img *Image) clone() *Image {
	c := &Image{
		Offset: img.Offset, NextProducerID: img.NextProducerID, ClusterID: img.ClusterID,
		Brokers:       make(map[int32]*Broker, len(img.Brokers)),
		Topics:        maps.Clone(img.Topics),        // topics are cloned when changed
		BrokerConfigs: maps.Clone(img.BrokerConfigs), // levels are replaced, never mutated
		byID:          maps.Clone(img.byID),
	}
	for id, b := range img.Brokers {
		bc := *b
		c.Brokers[id] = &bc
	}
	return c
}

// reindex rebuilds the derived maps after decoding.
func (img *Image) reindex() {
	if img.Brokers == nil {
		img.Brokers = map[int32]*Broker{}
	}
	if img.Topics == nil {
		img.Topics = map[string]*Topic{}
	}
	img.byID = make(map[[16]byte]string, len(img.Topics))
	for n, t := range img.Topics {
		img.byID[t.ID] = n
	}
}

// TopicByID finds a topic by its id.
func (img *Image) TopicByID(id [16]byte) (*Topic, bool) {
	n, ok := img.byID[id]
	if !ok {
		return nil, false
	}
	return img.Topics[n], true
}

// Live reports whether broker id is registered and not fenced.
func (img *Image) Live(id int32) bool {
	b, ok := img.Brokers[id]
	return ok && !b.Fenced && !b.ShuttingDown
}

// LiveBrokers lists the unfenced brokers by id.
func (img *Image) LiveBrokers() []*Broker {
	var out []*Broker
	for _, b := range img.Brokers {
		if !b.Fenced && !b.ShuttingDown {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b *Broker) int { return int(a.ID) - int(b.ID) })
	return out
}

// TopicNames lists the topics, sorted.
func (img *Image) TopicNames() []string {
	return slices.Sorted(maps.Keys(img.Topics))
}
