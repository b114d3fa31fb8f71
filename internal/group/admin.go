package group

import (
	"errors"
	"sort"
	"strings"
)

// classicGroupType is the type of every group here (ListGroups v5).
const classicGroupType = "classic"

// GroupListing is one group as ListGroups shows it.
type GroupListing struct {
	Group        string
	ProtocolType string
	State        string
	Type         string
}

// ListGroups lists the groups of every shard this broker coordinates,
// filtered by state and type (case-insensitive; empty filters match all).
// A shard still loading makes the error COORDINATOR_LOAD_IN_PROGRESS, with
// the groups of the others.
func (c *Coordinator) ListGroups(states, types []string) ([]GroupListing, error) {
	for _, t := range types {
		if strings.EqualFold(t, classicGroupType) {
			types = nil
			break
		}
	}
	if len(types) > 0 {
		return nil, nil // only classic groups exist here
	}
	var (
		out []GroupListing
		err error
	)
	for _, s := range c.activeShards() {
		if e := s.lock(); e != nil {
			if errors.Is(e, ErrLoadInProgress) {
				err = e
			}
			continue
		}
		for _, g := range s.groups {
			if stateMatches(g.state, states) {
				out = append(out, GroupListing{Group: g.id, ProtocolType: g.protocolType, State: g.state.String(), Type: classicGroupType})
			}
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, err
}

// GroupDescription is one group as DescribeGroups shows it.
type GroupDescription struct {
	Err          error // coordinator errors
	NotFound     bool  // no such group (State is "Dead")
	State        string
	ProtocolType string
	Protocol     string // only when Stable
	Members      []MemberDescription
}

// MemberDescription is one member; metadata and assignment are given only
// when the group is Stable.
type MemberDescription struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// DescribeGroup describes a group.
func (c *Coordinator) DescribeGroup(groupID string) GroupDescription {
	notFound := GroupDescription{NotFound: true, State: stateDead.String()}
	s, err := c.lockShard(groupID)
	switch {
	case err != nil:
		return GroupDescription{Err: err}
	case s == nil:
		return notFound
	}
	defer s.mu.Unlock()
	g := s.groups[groupID]
	if g == nil {
		return notFound
	}
	d := GroupDescription{State: g.state.String(), ProtocolType: g.protocolType}
	stable := g.state == stateStable
	if stable {
		d.Protocol = g.protocolName
	}
	for _, m := range g.memberList() {
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost, Metadata: []byte{}, Assignment: []byte{}}
		if stable {
			md.Metadata, md.Assignment = m.metadata(g.protocolName), m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d
}

// DeleteGroup deletes an Empty group and its offsets (DeleteGroups):
// GROUP_ID_NOT_FOUND if there is none, NON_EMPTY_GROUP if it has members.
// It answers once the tombstones are acknowledged.
func (c *Coordinator) DeleteGroup(groupID string) error {
	s, err := c.lockShard(groupID)
	switch {
	case err != nil:
		return err
	case s == nil:
		return ErrGroupNotFound
	}
	w, n, err := s.deleteGroupLocked(groupID)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.await(w); err != nil {
		return groupAppendError(err)
	}
	c.logger.Info("group deleted", "group", groupID, "offsets", n)
	return nil
}

// deleteGroupLocked drops group groupID and its n offsets, committed or
// pending; the write is yet to be acknowledged.
func (s *shard) deleteGroupLocked(groupID string) (w write, n int, err error) {
	g := s.groups[groupID]
	switch {
	case g == nil:
		return write{}, 0, ErrGroupNotFound
	case g.state != stateEmpty:
		return write{}, 0, ErrNonEmptyGroup
	}
	tps := g.heldOffsets(func(topicPartition) bool { return true })
	if w, err = s.dropOffsetsLocked(g, tps, true, s.c.clock.Now()); err != nil {
		return write{}, 0, groupAppendError(err)
	}
	return w, len(tps), nil
}

// CommittedOffset is one group's committed offset of one partition.
type CommittedOffset struct {
	Group string
	TopicPartition
	Offset int64
}

// AllCommitted lists the committed offsets of every group this broker
// coordinates (for lag metrics). Shards still loading are left out.
func (c *Coordinator) AllCommitted() []CommittedOffset {
	var out []CommittedOffset
	for _, s := range c.activeShards() {
		if s.lock() != nil {
			continue
		}
		for _, g := range s.groups {
			for tp, e := range g.offsets {
				out = append(out, CommittedOffset{Group: g.id, TopicPartition: TopicPartition{tp.topic, tp.partition}, Offset: e.offset})
			}
		}
		s.mu.Unlock()
	}
	return out
}
