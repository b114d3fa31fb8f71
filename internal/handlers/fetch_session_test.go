package handlers_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// TestHandlersFetchSessionEpochs: the broker holds no fetch sessions, and
// answers the KIP-227 session fields as Kafka does (FetchManager.newContext,
// FetchMetadata.isFull): epoch 0 (initial) or -1 (final) is a full fetch
// whatever the session id, answered with session id 0; any other epoch
// continues a session that does not exist: FETCH_SESSION_ID_NOT_FOUND at
// the top level, no topics. kafka-go's Client.Fetch sends session id -1
// with epoch -1 and was once answered FETCH_SESSION_ID_NOT_FOUND.
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
				if resp.SessionID != 0 {
					t.Errorf("answered session id %d, want 0 (no sessions)", resp.SessionID)
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
