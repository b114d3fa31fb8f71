package handlers

// KIP-227 incremental fetch sessions. A client (consumer or follower) that
// fetches the same partitions again and again sends them all once, in a
// full fetch with session epoch 0; the broker keeps them in a session and
// answers its id. From then on the client sends, with the next epoch, only
// the partitions whose fetch parameters changed (and the ones it stopped
// fetching, as forgotten topics), and the broker answers only the
// partitions with something new: records, an error, or a changed high
// watermark, last stable offset or log start offset. A consumer of 1,000
// idle partitions then exchanges a few dozen bytes per fetch instead of
// tens of kilobytes.
//
// As in Kafka (FetchManager, FetchSession, FetchSessionCache):
//   - epoch -1 is a sessionless full fetch and closes the session named;
//     epoch 0 is a full fetch that closes the session named and opens a
//     new one (session id 0 in the answer when the cache has no room);
//     any other epoch continues a session: FETCH_SESSION_ID_NOT_FOUND if
//     it is not cached, INVALID_FETCH_SESSION_EPOCH if the epoch is not
//     the one expected next, FETCH_SESSION_TOPIC_ID_ERROR if it names
//     topics the other way (ids from v13) than the session began with.
//   - The cache holds max.incremental.fetch.session.cache.slots sessions
//     (0: none). When full, a new session replaces the least recently used
//     one if that one is stale (unused for
//     min.incremental.fetch.session.eviction.ms, 120 s) or belongs to a
//     consumer while the new one is a follower's (followers are
//     privileged), or to a consumer with fewer partitions than the new
//     one; else it gets no session.
//   - The epoch advances when a request is taken, so a request resent
//     after a lost answer gets INVALID_FETCH_SESSION_EPOCH and the client
//     starts over with a full fetch.
//   - Partitions that returned records move to the end of the session's
//     order, so that a response's byte limit serves them all in turn.

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/partition"
)

// sessionEvictionAge is min.incremental.fetch.session.eviction.ms.
const sessionEvictionAge = 120 * time.Second

type sessionKey struct {
	id        [16]byte // v13+: topics by id
	topic     string   // before v13: by name
	partition int32
}

// sessionPartition is a partition of a session: what the client asked for
// last, and what it was last answered.
type sessionPartition struct {
	key               sessionKey
	topic             string
	topicID           [16]byte
	req               kmsg.FetchRequestTopicPartition
	hw, lso, logStart int64
	preferred         int32
	answered          bool
	moved             bool // returned records in the answer being built
}

type fetchSession struct {
	id       int32
	replica  bool // a follower's: privileged in the cache
	usesIDs  bool
	mu       sync.Mutex // one request at a time
	parts    []*sessionPartition
	byKey    map[sessionKey]*sessionPartition
	lastUsed time.Time // guarded by the cache's mu
	inUse    bool      // guarded by the cache's mu
	epoch    int32     // the next expected; guarded by the cache's mu
}

type fetchSessions struct {
	mu   sync.Mutex
	max  int
	byID map[int32]*fetchSession
	now  func() time.Time
}

func newFetchSessions(slots int, now func() time.Time) *fetchSessions {
	return &fetchSessions{max: slots, byID: map[int32]*fetchSession{}, now: now}
}

// FetchSessions is the number of fetch sessions cached (Kafka's
// NumIncrementalFetchSessions).
func (h *Handlers) FetchSessions() int { return h.sessions.Len() }

// Len is the number of sessions cached.
func (c *fetchSessions) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}

func nextSessionEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// begin resolves req's session context. It returns the session the
// request runs in (locked; end unlocks it), nil for a sessionless fetch,
// and a top-level error code if the request cannot be served.
func (c *fetchSessions) begin(req *kmsg.FetchRequest, replica bool) (s *fetchSession, code int16) {
	if req.Version < 7 || req.SessionEpoch == finalSessionEpoch && req.SessionID == 0 {
		return nil, 0 // sessionless, naming no session to close: no lock taken
	}
	now := c.now()
	c.mu.Lock()
	switch req.SessionEpoch {
	case finalSessionEpoch:
		delete(c.byID, req.SessionID)
		c.mu.Unlock()
		return nil, 0
	case initialSessionEpoch:
		delete(c.byID, req.SessionID)
		s = c.createLocked(req, replica, now)
		c.mu.Unlock()
		if s != nil {
			s.mu.Lock()
		}
		return s, 0
	}
	s, ok := c.byID[req.SessionID]
	switch {
	case !ok || req.SessionID == 0:
		c.mu.Unlock()
		return nil, kerr.FetchSessionIDNotFound.Code
	case s.epoch != req.SessionEpoch:
		c.mu.Unlock()
		return nil, kerr.InvalidFetchSessionEpoch.Code
	case s.usesIDs != (req.Version >= 13):
		c.mu.Unlock()
		return nil, kerr.FetchSessionTopicIDError.Code
	}
	s.epoch = nextSessionEpoch(s.epoch)
	s.lastUsed, s.inUse = now, true
	c.mu.Unlock()
	s.mu.Lock()
	return s, 0
}

// createLocked makes a session for an initial fetch, evicting one if the
// cache is full and one may go; nil if there is no room.
func (c *fetchSessions) createLocked(req *kmsg.FetchRequest, replica bool, now time.Time) *fetchSession {
	if c.max <= 0 {
		return nil
	}
	size := 0
	for _, t := range req.Topics {
		size += len(t.Partitions)
	}
	if len(c.byID) >= c.max {
		var victim *fetchSession
		for _, s := range c.byID {
			if s.inUse {
				continue
			}
			if victim == nil || s.lastUsed.Before(victim.lastUsed) {
				victim = s
			}
		}
		if victim == nil {
			return nil
		}
		stale := now.Sub(victim.lastUsed) >= sessionEvictionAge
		if !stale && (victim.replica || !replica && len(victim.parts) >= size) {
			return nil
		}
		delete(c.byID, victim.id)
	}
	s := &fetchSession{replica: replica, usesIDs: req.Version >= 13, byKey: map[sessionKey]*sessionPartition{},
		lastUsed: now, inUse: true, epoch: 1}
	for {
		s.id = rand.Int32N(1<<31-1) + 1
		if _, taken := c.byID[s.id]; !taken {
			break
		}
	}
	c.byID[s.id] = s
	return s
}

// end releases s after a request.
func (c *fetchSessions) end(s *fetchSession) {
	s.mu.Unlock()
	c.mu.Lock()
	s.inUse, s.lastUsed = false, c.now()
	c.mu.Unlock()
}

func (s *fetchSession) key(topic string, id [16]byte, partition int32) sessionKey {
	if s.usesIDs {
		return sessionKey{id: id, partition: partition}
	}
	return sessionKey{topic: topic, partition: partition}
}

// update applies a request's partitions (added or changed) and forgotten
// topics to the session.
func (s *fetchSession) update(req *kmsg.FetchRequest) {
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := s.key(ft.Topic, ft.TopicID, p)
			if sp, ok := s.byKey[k]; ok {
				delete(s.byKey, k)
				for i, q := range s.parts {
					if q == sp {
						s.parts = append(s.parts[:i], s.parts[i+1:]...)
						break
					}
				}
			}
		}
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := s.key(rt.Topic, rt.TopicID, rp.Partition)
			if sp, ok := s.byKey[k]; ok {
				sp.req = rp
				continue
			}
			sp := &sessionPartition{key: k, topic: rt.Topic, topicID: rt.TopicID, req: rp}
			s.byKey[k] = sp
			s.parts = append(s.parts, sp)
		}
	}
}

// request is the full fetch the session stands for: req's settings with
// every partition of the session, in the session's order (consecutive
// partitions of a topic grouped).
func (s *fetchSession) request(req *kmsg.FetchRequest) *kmsg.FetchRequest {
	full := *req
	full.Topics, full.ForgottenTopics = nil, nil
	for _, sp := range s.parts {
		n := len(full.Topics)
		if n == 0 || full.Topics[n-1].Topic != sp.topic || full.Topics[n-1].TopicID != sp.topicID {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = sp.topic, sp.topicID
			full.Topics = append(full.Topics, rt)
			n++
		}
		full.Topics[n-1].Partitions = append(full.Topics[n-1].Partitions, sp.req)
	}
	return &full
}

// answer turns the response to s.request into the session's answer: all
// partitions for a full fetch, only those with news for an incremental
// one. It records what was answered, and moves the partitions that
// returned records to the end of the session's order.
func (s *fetchSession) answer(resp *fetchResponse, incremental bool) *fetchResponse {
	out := &fetchResponse{FetchResponse: resp.FetchResponse}
	topics := resp.Topics
	out.Topics = nil
	var moved []*sessionPartition
	i := 0 // index into s.parts, which resp follows
	for ti := range topics {
		st := topics[ti]
		kept := st
		kept.Partitions = nil
		var recs []partition.Records
		for pi, p := range st.Partitions {
			sp := s.parts[i]
			i++
			r := resp.records[ti][pi]
			news := !sp.answered || r.Len() > 0 || p.ErrorCode != 0 || p.HighWatermark != sp.hw ||
				p.LastStableOffset != sp.lso || p.LogStartOffset != sp.logStart || p.PreferredReadReplica != sp.preferred ||
				p.DivergingEpoch.Epoch >= 0 || p.CurrentLeader.LeaderID >= 0
			sp.hw, sp.lso, sp.logStart, sp.preferred, sp.answered = p.HighWatermark, p.LastStableOffset, p.LogStartOffset, p.PreferredReadReplica, true
			if r.Len() > 0 {
				sp.moved = true
				moved = append(moved, sp)
			}
			if incremental && !news {
				continue
			}
			kept.Partitions = append(kept.Partitions, p)
			recs = append(recs, r)
		}
		if len(kept.Partitions) > 0 {
			out.Topics = append(out.Topics, kept)
			out.records = append(out.records, recs)
			out.topicNames = append(out.topicNames, resp.topicNames[ti])
		}
	}
	if len(moved) > 0 && len(moved) < len(s.parts) {
		rest := make([]*sessionPartition, 0, len(s.parts))
		for _, sp := range s.parts {
			if !sp.moved {
				rest = append(rest, sp)
			}
		}
		s.parts = append(rest, moved...)
	}
	for _, sp := range moved {
		sp.moved = false
	}
	out.SessionID = s.id
	return out
}
