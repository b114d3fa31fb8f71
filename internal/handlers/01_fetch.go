package handlers

// Fetch, key 1, versions 4-18.
//
// v4 (KIP-98) adds the isolation level and last stable offset, the first
// version that carries RecordBatch v2 unconverted; v5 log start offset; v7
// (KIP-227) fetch sessions; v9 (KIP-320) current leader epoch; v11 (KIP-392)
// rack and preferred read replica; v12 flexible, diverging epochs; v13
// (KIP-516) topics by id; v15-v18 replica state and tagged fields for KRaft.
//
// The request long-polls: it is answered once MinBytes are available, an
// error is to report, MaxWaitMillis has passed, or the server shuts down.
// Incremental fetch sessions (KIP-227) are in fetch_session.go. As in Kafka
// (FetchMetadata.isFull), the session epoch alone says whether a request is
// full: epoch 0 (INITIAL_EPOCH, "start a session") and -1 (FINAL_EPOCH, "no
// session") are full fetches whatever the session id; kafka-go's
// Client.Fetch sends session id -1 with epoch -1. Record bytes are whole
// batches as stored, sent from the segment files with sendfile, or read
// into the response when they are small (fetch_response.go).
//
// A fetch with a replica id ≥ 0 (ReplicaID before v15, ReplicaState.ID
// from v15) is a follower's: the leader records the follower's log end
// offset (its fetch offset), which advances the high watermark, and answers
// records up to its log end. A consumer's fetch (replica id -1) is answered
// by the leader only (else NOT_LEADER_OR_FOLLOWER), below the high
// watermark; both are fenced by CurrentLeaderEpoch (KIP-320).

import (
	"context"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/server"
)

// ParkedFetches is the number of fetches waiting for data now (Kafka's
// fetch purgatory size).
func (h *Handlers) ParkedFetches() int64 { return h.parkedFetches.Load() }

// countFetch counts the bytes a fetch answer sends and its failed
// partitions, by topic (those that exist: see produce).
func (h *Handlers) countFetch(resp *fetchResponse) {
	if h.metrics == nil {
		return
	}
	for ti := range resp.Topics {
		if resp.topicNames[ti] == "" {
			continue
		}
		var out int64
		for pi, p := range resp.Topics[ti].Partitions {
			out += resp.records[ti][pi].Len()
			if p.ErrorCode != 0 {
				h.metrics.Topic(resp.topicNames[ti]).FailedFetch.Inc()
			}
		}
		if out > 0 {
			h.metrics.Topic(resp.topicNames[ti]).BytesOut.Add(float64(out))
		}
	}
}

// maxFetchWait bounds a long poll whatever the client asks.
const maxFetchWait = 5 * time.Minute

func (h *Handlers) fetch(ctx context.Context, _ *server.Request, req *kmsg.FetchRequest) (kmsg.Response, error) {
	sess, code := h.sessions.begin(req, fetchReplicaID(req) >= 0)
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	work := req
	if sess != nil {
		defer h.sessions.end(sess)
		sess.update(req)
		work = sess.request(req)
	}
	incremental := incrementalFetch(req)
	done := func(resp *fetchResponse) (kmsg.Response, error) {
		if sess != nil {
			resp = sess.answer(resp, incremental)
		}
		h.countFetch(resp)
		return resp, nil
	}
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		resp, size, failed, changed := h.fetchOnce(work)
		if size >= int64(req.MinBytes) || failed || wait == 0 {
			return done(resp)
		}
		h.parkedFetches.Add(1)
		cases := make([]reflect.SelectCase, 0, len(changed)+2)
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
		for _, c := range changed {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
		}
		i, _, _ := reflect.Select(cases)
		h.parkedFetches.Add(-1)
		switch i {
		case 0, 1:
			resp, _, _, _ = h.fetchOnce(work)
			return done(resp)
		}
	}
}

// KIP-227 session epochs that make a request a full fetch.
const (
	initialSessionEpoch = 0  // start a session
	finalSessionEpoch   = -1 // no session: a sessionless full fetch
)

// incrementalFetch reports whether req continues a fetch session (v7+, an
// epoch other than initial or final; see fetch_session.go).
func incrementalFetch(req *kmsg.FetchRequest) bool {
	return req.Version >= 7 && req.SessionEpoch != initialSessionEpoch && req.SessionEpoch != finalSessionEpoch
}

// fetchReplicaID is the fetching replica's id (-1 for a consumer):
// ReplicaID before v15, ReplicaState.ID from v15.
func fetchReplicaID(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// fetchOnce reads every requested partition once. It returns the response,
// the record bytes in it, whether any partition has an error to report, and
// the channels that signal new data on the partitions read.
func (h *Handlers) fetchOnce(req *kmsg.FetchRequest) (resp *fetchResponse, size int64, failed bool, changed []<-chan struct{}) {
	resp = &fetchResponse{FetchResponse: req.ResponseKind().(*kmsg.FetchResponse)}
	remaining := int64(req.MaxBytes)
	if req.Version < 3 || remaining <= 0 {
		remaining = 1<<31 - 1
	}
	replica := fetchReplicaID(req)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var (
			t    *broker.Topic
			tErr error
			ok   bool
		)
		if req.Version >= 13 {
			if t, ok = h.b.TopicByID(rt.TopicID); !ok {
				tErr = kerr.UnknownTopicID
			}
		} else if t, ok = h.b.Topic(rt.Topic); !ok {
			tErr = broker.ErrUnknownTopic
		}
		records := make([]partition.Records, len(rt.Partitions))
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			// Kafka answers empty records, never null: librdkafka rejects
			// a null record set (MessageSetSize -1).
			sp.RecordBatches = []byte{}
			err := tErr
			var p *partition.Partition
			if err == nil {
				p, err = h.b.PartitionOf(t, rp.Partition)
			}
			if err == nil && replica < 0 {
				err = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch())
			}
			if err == nil {
				limit := min(int64(max(rp.PartitionMaxBytes, 0)), remaining)
				// KIP-74: the first batch of the response is returned
				// whole even above the limits, so consumers never stall.
				// Take the change signal before reading, so an append
				// racing with the read still wakes the long poll.
				ch := p.Changed()
				var res partition.FetchResult
				if replica >= 0 {
					res, err = p.ReplicaFetch(replica, rp.FetchOffset, rp.CurrentLeaderEpoch, int32(limit))
					if size > 0 && res.Records.Len() > limit {
						// Only a response's first batch may exceed the
						// limits; the follower's offset is recorded.
						res.Records = partition.Records{}
					}
				} else {
					res, err = p.Fetch(rp.FetchOffset, int32(limit), size == 0)
				}
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
				if err == nil {
					records[j] = res.Records
					size += res.Records.Len()
					remaining = max(remaining-res.Records.Len(), 0)
					changed = append(changed, ch)
				}
			}
			if err != nil {
				sp.ErrorCode = h.errCode(err)
				failed = true
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
		resp.records = append(resp.records, records)
		name := "" // unknown: no metrics
		if t != nil {
			name = t.Name
		}
		resp.topicNames = append(resp.topicNames, name)
	}
	return resp, size, failed, changed
}
