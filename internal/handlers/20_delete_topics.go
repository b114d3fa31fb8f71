package handlers

// DeleteTopics, key 20, versions 0-6.
//
// v0-v3 are the same request (v1 adds the throttle time, v2 answers before
// throttling, v3 may answer TOPIC_DELETION_DISABLED, where older versions get
// INVALID_REQUEST); v4 flexible; v5 (KIP-599) an error message per topic; v6
// (KIP-516) names topics by name or by id, and answers with both.
//
// As Kafka's controller does: with delete.topic.enable=false every topic is
// refused; a name or id given twice is INVALID_REQUEST ("Duplicate topic
// name." / "Duplicate topic id."), as is an entry with both or neither; an
// unknown name is UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID;
// a name that resolves to an id also given by id is INVALID_REQUEST and that
// topic is left alone. Deletion is synchronous: the topic is gone from the
// metadata and its partitions closed when the answer is sent.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) deleteTopics(_ context.Context, _ *server.Request, req *kmsg.DeleteTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	answer := func(name *string, id [16]byte, err error) {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = name, id
		if err != nil {
			st.ErrorCode = h.errCode(err)
			st.ErrorMessage = errMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}

	// Collect the names and ids asked for, in request order.
	type target struct {
		name   *string
		id     [16]byte
		byID   bool
		preErr error
	}
	var targets []target
	nameCount := map[string]int{}
	idCount := map[[16]byte]int{}
	for _, n := range req.TopicNames {
		targets = append(targets, target{name: &n})
		nameCount[n]++
	}
	for _, rt := range req.Topics {
		switch {
		case rt.Topic == nil && rt.TopicID == [16]byte{}:
			targets = append(targets, target{preErr: apiErrorf(kerr.InvalidRequest, "Neither topic name nor id were specified.")})
		case rt.Topic == nil:
			targets = append(targets, target{id: rt.TopicID, byID: true})
			idCount[rt.TopicID]++
		case rt.TopicID == [16]byte{}:
			targets = append(targets, target{name: rt.Topic})
			nameCount[*rt.Topic]++
		default:
			targets = append(targets, target{name: rt.Topic, id: rt.TopicID,
				preErr: apiErrorf(kerr.InvalidRequest, "You may not specify both topic name and topic id.")})
		}
	}

	if !h.b.Config().Bool("delete.topic.enable") {
		var err error = broker.ErrDeletionDisabled
		if req.Version < 3 {
			err = apiErrorf(kerr.InvalidRequest, "Topic deletion is disabled.")
		}
		for _, t := range targets {
			answer(t.name, t.id, err)
		}
		return resp, nil
	}

	// Resolve every target to a topic before deleting anything, so that a
	// name and an id naming the same topic are caught.
	resolved := make(map[[16]byte]string) // topic id → name, for ids given by id
	for i := range targets {
		t := &targets[i]
		if t.preErr != nil || !t.byID || idCount[t.id] > 1 {
			continue
		}
		if topic, ok := h.b.TopicByID(broker.TopicID(t.id)); ok {
			resolved[t.id] = topic.Name
		}
	}
	answeredDup := map[string]bool{}
	for _, t := range targets {
		switch {
		case t.preErr != nil:
			answer(t.name, t.id, t.preErr)
		case !t.byID && nameCount[*t.name] > 1:
			if !answeredDup[*t.name] {
				answeredDup[*t.name] = true
				answer(t.name, [16]byte{}, apiErrorf(kerr.InvalidRequest, "Duplicate topic name."))
			}
		case t.byID && idCount[t.id] > 1:
			key := string(t.id[:])
			if !answeredDup[key] {
				answeredDup[key] = true
				answer(nil, t.id, apiErrorf(kerr.InvalidRequest, "Duplicate topic id."))
			}
		case t.byID:
			name, ok := resolved[t.id]
			if !ok {
				answer(nil, t.id, kerr.UnknownTopicID)
				continue
			}
			if nameCount[name] > 0 {
				// The same topic is also named: Kafka deletes neither.
				answer(&name, t.id, apiErrorf(kerr.InvalidRequest, "Duplicate topic id."))
				continue
			}
			_, err := h.b.DeleteTopic(name)
			if errors.Is(err, broker.ErrUnknownTopic) {
				err = kerr.UnknownTopicID // deleted since it was resolved
			}
			answer(&name, t.id, err)
		default:
			topic, ok := h.b.Topic(*t.name)
			if !ok {
				answer(t.name, [16]byte{}, broker.ErrUnknownTopic)
				continue
			}
			if _, dup := resolved[topic.ID]; dup {
				answer(t.name, topic.ID, apiErrorf(kerr.InvalidRequest, "The provided topic name maps to an ID that was already supplied."))
				continue
			}
			id, err := h.b.DeleteTopic(*t.name)
			answer(t.name, id, err)
		}
	}
	return resp, nil
}
