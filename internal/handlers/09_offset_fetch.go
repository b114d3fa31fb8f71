package handlers

// OffsetFetch, key 9, versions 0-10.
//
// v1 reads offsets from __consumer_offsets (v0 read ZooKeeper in Kafka;
// here both read the coordinator); v2 a top-level error code, and null
// topics meaning every committed partition; v3-v4 same as v2 (v3 adds the
// throttle time); v5 (KIP-320) the leader epoch; v6 flexible; v7 (KIP-447)
// RequireStable; v8 (KIP-709) several groups per request; v9 (KIP-848)
// member id and epoch, validated only for KIP-848 groups (none here); v10
// names topics by id.
//
// Partitions with nothing committed answer offset -1. Group-level errors
// (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS …) are the top-level or
// per-group error, and in v0-v1, which have none, every partition's.
// Commits are applied only once they are in the log, so there are never
// unstable offsets to wait for with RequireStable.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/server"
)

// fetchTopic is one topic of a fetch, as asked.
type fetchTopic struct {
	name       string
	id         [16]byte
	err        error // unknown topic id (v10)
	partitions []int32
}

// fetchedTopic is one topic of the answer.
type fetchedTopic struct {
	name       string
	id         [16]byte
	partitions []group.FetchedOffset
}

func (h *Handlers) offsetFetch(_ context.Context, _ *server.Request, req *kmsg.OffsetFetchRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		var topics []fetchTopic
		for _, rt := range req.Topics {
			topics = append(topics, fetchTopic{name: rt.Topic, partitions: rt.Partitions})
		}
		all := req.Topics == nil && req.Version >= 2
		answer, err := h.fetchGroupOffsets(req.Version, req.Group, topics, all)
		if err != nil && req.Version >= 2 {
			resp.ErrorCode = h.errCode(err)
			return resp, nil
		}
		for _, t := range answer {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.name
			for _, fo := range t.partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch = fo.Partition, fo.Offset, fo.LeaderEpoch
				md := fo.Metadata
				rp.Metadata = &md
				rp.ErrorCode = h.errCode(fo.Err)
				if err != nil { // v0-v1: the group's error on every partition
					rp.ErrorCode = h.errCode(err)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	for _, rg := range req.Groups {
		var topics []fetchTopic
		for _, rt := range rg.Topics {
			ft := fetchTopic{name: rt.Topic, id: rt.TopicID, partitions: rt.Partitions}
			if req.Version >= 10 {
				t, err := h.commitTopic(req.Version, rt.Topic, rt.TopicID)
				if t != nil {
					ft.name = t.Name
				}
				ft.err = err
			}
			topics = append(topics, ft)
		}
		sg := kmsg.NewOffsetFetchResponseGroup()
		sg.Group = rg.Group
		answer, err := h.fetchGroupOffsets(req.Version, rg.Group, topics, rg.Topics == nil)
		if err != nil {
			sg.ErrorCode = h.errCode(err)
		}
		for _, t := range answer {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic, st.TopicID = t.name, t.id
			for _, fo := range t.partitions {
				sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch = fo.Partition, fo.Offset, fo.LeaderEpoch
				md := fo.Metadata
				sp.Metadata = &md
				sp.ErrorCode = h.errCode(fo.Err)
				st.Partitions = append(st.Partitions, sp)
			}
			sg.Topics = append(sg.Topics, st)
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}

// fetchGroupOffsets answers one group: the asked topics in request order,
// or every committed partition (all). On a group-level error it returns the
// asked topics with offset -1 (what v0-v1 show) and the error.
func (h *Handlers) fetchGroupOffsets(version int16, groupID string, topics []fetchTopic, all bool) ([]fetchedTopic, error) {
	var parts []group.TopicPartition
	for _, t := range topics {
		if t.err != nil {
			continue
		}
		for _, p := range t.partitions {
			parts = append(parts, group.TopicPartition{Topic: t.name, Partition: p})
		}
	}
	fos, err := h.groups.FetchOffsets(groupID, parts, all)
	if all {
		var out []fetchedTopic
		for _, fo := range fos {
			if len(out) == 0 || out[len(out)-1].name != fo.Topic {
				ft := fetchedTopic{name: fo.Topic}
				if version >= 10 {
					t, ok := h.b.Topic(fo.Topic)
					if !ok {
						continue // a v10 answer needs the topic's id
					}
					ft.id = t.ID
				}
				out = append(out, ft)
			}
			out[len(out)-1].partitions = append(out[len(out)-1].partitions, fo)
		}
		return out, err
	}
	byTP := make(map[group.TopicPartition]group.FetchedOffset, len(fos))
	for _, fo := range fos {
		byTP[fo.TopicPartition] = fo
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{name: t.name, id: t.id}
		for _, p := range t.partitions {
			tp := group.TopicPartition{Topic: t.name, Partition: p}
			fo, ok := byTP[tp]
			if !ok {
				fo = group.FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1}
			}
			if t.err != nil {
				fo.Err = t.err
			}
			ft.partitions = append(ft.partitions, fo)
		}
		out = append(out, ft)
	}
	return out, err
}
