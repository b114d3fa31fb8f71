package handlers_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// TestHandlersFetchSessionEpochs: the KIP-227 session fields as Kafka
// answers them (FetchManager.newContext, FetchMetadata.isFull): epoch 0
// (initial) or -1 (final) is a full fetch whatever the session id, the
// first opening a session (a new id), the second none (id 0); any other
// epoch continues a session, and one that does not exist is answered
// FETCH_SESSION_ID_NOT_FOUND at the top level, no topics. kafka-go's
// Client.Fetch sends session id -1 with epoch -1 and was once answered
// FETCH_SESSION_ID_NOT_FOUND.
func TestHandlersFetchSessionEpochs(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "sessions", 1, nil)
	cl := tb.client(t)
	if r := produceRaw(t, cl, "sessions", 0, -1, recordtest.Simple(3, time.Now().UnixMilli()).Encode()); r.ErrorCode != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	id := topicID(t, cl, "sessions")

	cases := []struct {
		name      string
		sessionID int32
		epoch     int32
		full      bool
	}{
		{"sessionless", 0, -1, true},
		{"kafka-go", -1, -1, true},
		{"close-unknown-session", 12345, -1, true},
		{"initial", 0, 0, true},
		{"initial-replacing-unknown-session", 12345, 0, true},
		{"incremental-unknown-session", 12345, 1, false},
		{"incremental-session-zero", 0, 1, false},
		{"invalid-epoch", -1, -2, false},
	}
	for _, version := range []int16{7, 11, 13, kmsg.NewPtrFetchRequest().MaxVersion()} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("v%d/%s", version, tc.name), func(t *testing.T) {
				req := kmsg.NewPtrFetchRequest()
				req.Version = version
				req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 1<<20
				req.SessionID, req.SessionEpoch = tc.sessionID, tc.epoch
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic, rt.TopicID = "sessions", id
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.PartitionMaxBytes = 1 << 20
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp := rawRequest(t, tb.addr, req).(*kmsg.FetchResponse)
				if opens := tc.full && tc.epoch == 0; opens != (resp.SessionID != 0) {
					t.Errorf("answered session id %d; a session opened: want %v", resp.SessionID, opens)
				}
				if !tc.full {
					if err := kerr.ErrorForCode(resp.ErrorCode); err != kerr.FetchSessionIDNotFound || len(resp.Topics) != 0 {
						t.Fatalf("error %v with %d topics, want FETCH_SESSION_ID_NOT_FOUND and none", err, len(resp.Topics))
					}
					return
				}
				if resp.ErrorCode != 0 {
					t.Fatalf("full fetch answered %v", kerr.ErrorForCode(resp.ErrorCode))
				}
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("full fetch answered %d topics, want 1 with 1 partition", len(resp.Topics))
				}
				p := resp.Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.HighWatermark != 3 || len(p.RecordBatches) == 0 {
					t.Fatalf("partition answered error %v, high watermark %d, %d record bytes; want none, 3, some",
						kerr.ErrorForCode(p.ErrorCode), p.HighWatermark, len(p.RecordBatches))
				}
			})
		}
	}
}

// sessionFetch sends one fetch in a session (v12: topics by name, or v13:
// by id) of the given partitions at their offsets, and forgotten ones.
type sessionClient struct {
	t       *testing.T
	addr    string
	version int16
	ids     map[string][16]byte
	id      int32
	epoch   int32
}

func (c *sessionClient) fetch(parts map[string]map[int32]int64, forget map[string][]int32) *kmsg.FetchResponse {
	c.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = c.version
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 1<<20
	req.SessionID, req.SessionEpoch = c.id, c.epoch
	for _, topic := range slices.Sorted(maps.Keys(parts)) {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, c.ids[topic]
		for _, p := range slices.Sorted(maps.Keys(parts[topic])) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, parts[topic][p], 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	for topic, ps := range forget {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.TopicID, ft.Partitions = topic, c.ids[topic], ps
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	resp := rawRequest(c.t, c.addr, req).(*kmsg.FetchResponse)
	if resp.ErrorCode == 0 {
		c.id, c.epoch = resp.SessionID, c.epoch+1
	}
	return resp
}

// answered lists "topic/partition" of the partitions a response carries,
// with the topic named by id from v13.
func (c *sessionClient) answered(resp *kmsg.FetchResponse) []string {
	var out []string
	for _, t := range resp.Topics {
		name := t.Topic
		for n, id := range c.ids {
			if c.version >= 13 && id == t.TopicID {
				name = n
			}
		}
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%s/%d", name, p.Partition))
		}
	}
	slices.Sort(out)
	return out
}

// TestHandlersFetchSessionLifecycle: a session opened by a full fetch of
// four partitions answers, incrementally, only the partitions with news: a
// produce to one brings that one (records and high watermark), a changed
// fetch offset brings nothing new, a forgotten partition is no longer
// fetched, a resent epoch is INVALID_FETCH_SESSION_EPOCH, a topic named
// the other way is FETCH_SESSION_TOPIC_ID_ERROR, and epoch -1 closes it.
func TestHandlersFetchSessionLifecycle(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "sa", 2, nil)
	createTopic(t, tb, "sb", 2, nil)
	cl := tb.client(t)
	ids := map[string][16]byte{"sa": topicID(t, cl, "sa"), "sb": topicID(t, cl, "sb")}
	produce := func(topic string, p int32, n int) {
		t.Helper()
		if r := produceRaw(t, cl, topic, p, -1, recordtest.Simple(n, time.Now().UnixMilli()).Encode()); r.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	produce("sa", 0, 2)
	for _, version := range []int16{12, 13, kmsg.NewPtrFetchRequest().MaxVersion()} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			c := &sessionClient{t: t, addr: tb.addr, version: version, ids: ids}
			all := map[string]map[int32]int64{"sa": {0: 0, 1: 0}, "sb": {0: 0, 1: 0}}
			resp := c.fetch(all, nil)
			if resp.ErrorCode != 0 || resp.SessionID == 0 {
				t.Fatalf("initial fetch: %v, session %d", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID)
			}
			if got := c.answered(resp); len(got) != 4 {
				t.Fatalf("initial fetch answered %v, want all four", got)
			}
			// The client moves on to the high watermarks (earlier
			// versions' runs left records too); nothing changed since.
			next := map[string]map[int32]int64{}
			for _, rt := range resp.Topics {
				name := rt.Topic
				for n, id := range ids {
					if version >= 13 && id == rt.TopicID {
						name = n
					}
				}
				next[name] = map[int32]int64{}
				for _, p := range rt.Partitions {
					next[name][p.Partition] = p.HighWatermark
				}
			}
			resp = c.fetch(next, nil)
			if got := c.answered(resp); resp.ErrorCode != 0 || len(got) != 0 {
				t.Fatalf("incremental fetch with nothing new: %v, answered %v", kerr.ErrorForCode(resp.ErrorCode), got)
			}
			produce("sb", 1, 3)
			resp = c.fetch(nil, nil)
			if got := c.answered(resp); !slices.Equal(got, []string{"sb/1"}) {
				t.Fatalf("after a produce to sb/1 answered %v", got)
			}
			if p := resp.Topics[0].Partitions[0]; len(p.RecordBatches) == 0 || p.HighWatermark < 3 {
				t.Fatalf("sb/1 answered %d record bytes, high watermark %d", len(p.RecordBatches), p.HighWatermark)
			}
			// The client moves on past those records: nothing new again.
			resp = c.fetch(map[string]map[int32]int64{"sb": {1: resp.Topics[0].Partitions[0].HighWatermark}}, nil)
			if got := c.answered(resp); len(got) != 0 {
				t.Fatalf("after moving past the records answered %v", got)
			}
			// Forget sb/0 and sa/1; a produce to sb/0 is not answered.
			resp = c.fetch(nil, map[string][]int32{"sb": {0}, "sa": {1}})
			produce("sb", 0, 1)
			produce("sa", 0, 1)
			resp = c.fetch(nil, nil)
			if got := c.answered(resp); !slices.Equal(got, []string{"sa/0"}) {
				t.Fatalf("after forgetting sb/0 answered %v", got)
			}
			// The same epoch again.
			c.epoch--
			if resp := c.fetch(nil, nil); kerr.ErrorForCode(resp.ErrorCode) != kerr.InvalidFetchSessionEpoch {
				t.Fatalf("a resent epoch answered %v", kerr.ErrorForCode(resp.ErrorCode))
			}
			c.epoch++
			other := &sessionClient{t: t, addr: tb.addr, version: 12, ids: ids, id: c.id, epoch: c.epoch}
			if version == 12 {
				other.version = 13
			}
			if resp := other.fetch(nil, nil); kerr.ErrorForCode(resp.ErrorCode) != kerr.FetchSessionTopicIDError {
				t.Fatalf("topics named the other way answered %v", kerr.ErrorForCode(resp.ErrorCode))
			}
			id := c.id
			c.epoch = -1
			if resp := c.fetch(all, nil); resp.ErrorCode != 0 || resp.SessionID != 0 || len(c.answered(resp)) != 4 {
				t.Fatalf("closing full fetch: %v, session %d", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID)
			}
			c.id, c.epoch = id, 2
			if resp := c.fetch(nil, nil); kerr.ErrorForCode(resp.ErrorCode) != kerr.FetchSessionIDNotFound {
				t.Fatalf("a closed session answered %v", kerr.ErrorForCode(resp.ErrorCode))
			}
		})
	}
}

// TestHandlersFetchSessionCache: with one slot, a second consumer's session
// replaces the first only if it has more partitions; with none, no session
// opens.
func TestHandlersFetchSessionCache(t *testing.T) {
	for _, slots := range []int{0, 1} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			tb := startBroker(t, fmt.Sprintf("max.incremental.fetch.session.cache.slots=%d", slots))
			createTopic(t, tb, "cache", 3, nil)
			ids := map[string][16]byte{"cache": topicID(t, tb.client(t), "cache")}
			open := func(n int) *sessionClient {
				c := &sessionClient{t: t, addr: tb.addr, version: 13, ids: ids}
				parts := map[int32]int64{}
				for p := range int32(n) {
					parts[p] = 0
				}
				if resp := c.fetch(map[string]map[int32]int64{"cache": parts}, nil); resp.ErrorCode != 0 {
					t.Fatalf("full fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
				}
				return c
			}
			first := open(2)
			if slots == 0 {
				if first.id != 0 {
					t.Fatalf("a session opened with no slots: %d", first.id)
				}
				return
			}
			if first.id == 0 {
				t.Fatal("no session opened")
			}
			if smaller := open(1); smaller.id != 0 {
				t.Fatal("a smaller session evicted a fresh one")
			}
			if resp := first.fetch(nil, nil); resp.ErrorCode != 0 {
				t.Fatalf("the first session after a refused one: %v", kerr.ErrorForCode(resp.ErrorCode))
			}
			if bigger := open(3); bigger.id == 0 {
				t.Fatal("a bigger session did not replace a smaller one")
			}
			if resp := first.fetch(nil, nil); kerr.ErrorForCode(resp.ErrorCode) != kerr.FetchSessionIDNotFound {
				t.Fatalf("the evicted session answered %v", kerr.ErrorForCode(resp.ErrorCode))
			}
		})
	}
}

// countingConn counts the bytes a client sends and receives.
type countingConn struct {
	net.Conn
	sent, received *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.sent.Add(int64(n))
	return n, err
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.received.Add(int64(n))
	return n, err
}

// TestHandlersFetchSessionsFranzGo: franz-go's consumer of 1,000 partitions
// gets every record with fetch sessions as without, and while the
// partitions are idle its fetches cost far fewer bytes each way with them
// (KIP-227's point). The bytes per idle fetch are logged.
func TestHandlersFetchSessionsFranzGo(t *testing.T) {
	tb := startBroker(t)
	const parts = 1000
	createTopic(t, tb, "wide", parts, nil)
	prod := tb.client(t, kgo.DefaultProduceTopic("wide"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(parts) {
		prod.Produce(testCtx(t), &kgo.Record{Partition: p, Value: []byte(fmt.Sprint(p))}, nil)
	}
	if err := prod.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	perFetch := map[bool]float64{}
	for _, sessions := range []bool{true, false} {
		var sent, received, fetches atomic.Int64
		opts := []kgo.Opt{
			kgo.ConsumeTopics("wide"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(50 * time.Millisecond),
			kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, network, host)
				if err != nil {
					return nil, err
				}
				return countingConn{c, &sent, &received}, nil
			}),
			kgo.WithHooks(fetchCounter{&fetches}),
		}
		if !sessions {
			opts = append(opts, kgo.DisableFetchSessions())
		}
		cl := tb.client(t, opts...)
		seen := map[int32]bool{}
		ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
		for len(seen) < parts && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { seen[r.Partition] = true })
		}
		cancel()
		if len(seen) != parts {
			t.Fatalf("sessions %v: records of %d partitions, want %d", sessions, len(seen), parts)
		}
		// Idle: every partition consumed, nothing new. Measure a second
		// of fetches.
		time.Sleep(200 * time.Millisecond)
		s0, r0, f0 := sent.Load(), received.Load(), fetches.Load()
		time.Sleep(time.Second)
		s1, r1, f1 := sent.Load(), received.Load(), fetches.Load()
		cl.Close()
		if f1-f0 < 3 {
			t.Fatalf("sessions %v: %d fetches in a second of long polls of 50 ms", sessions, f1-f0)
		}
		perFetch[sessions] = float64(s1-s0+r1-r0) / float64(f1-f0)
		t.Logf("fetch sessions %v: %d idle fetches in 1 s, %.0f bytes sent and %.0f received per fetch",
			sessions, f1-f0, float64(s1-s0)/float64(f1-f0), float64(r1-r0)/float64(f1-f0))
	}
	if perFetch[true]*20 > perFetch[false] {
		t.Errorf("an idle fetch of %d partitions costs %.0f bytes with sessions, %.0f without: want at least 20x fewer",
			parts, perFetch[true], perFetch[false])
	}
}

// fetchCounter counts the Fetch requests a client writes.
type fetchCounter struct{ n *atomic.Int64 }

func (h fetchCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	if key == 1 {
		h.n.Add(1)
	}
}
