package handlers_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// Retention by size deletes old segments and moves the log start offset; a
// fetch below it is OFFSET_OUT_OF_RANGE, and a consumer positioned there is
// reset to the new start instead of getting stuck.
func TestHandlersRetentionMovesStartOffset(t *testing.T) {
	tb := startBroker(t)
	segment, retention := "4096", "8192"
	createTopic(t, tb, "ret", 1, map[string]*string{"segment.bytes": &segment, "retention.bytes": &retention})
	cl := tb.client(t)
	for i := 0; i < 40; i++ {
		b := recordtest.Simple(4, time.Now().UnixMilli())
		for k := range b.Records {
			b.Records[k].Value = make([]byte, 300)
		}
		if r := produceRaw(t, cl, "ret", 0, 1, b.Encode()); r.ErrorCode != 0 {
			t.Fatal(r.ErrorCode)
		}
	}
	if n := tb.b.ApplyRetention(); n == 0 {
		t.Fatal("retention deleted nothing")
	}
	offsets, err := tb.admin(t).ListStartOffsets(testCtx(t), "ret")
	if err != nil {
		t.Fatal(err)
	}
	start, _ := offsets.Lookup("ret", 0)
	if start.Offset <= 0 || start.Offset >= 160 {
		t.Fatalf("start offset after retention: %d", start.Offset)
	}

	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis, req.MaxBytes = 100, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "ret"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = 0, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	got := rawRequest(t, tb.addr, req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if got.ErrorCode != kerr.OffsetOutOfRange.Code || got.LogStartOffset != start.Offset {
		t.Fatalf("fetch below the start: error %d, log start %d", got.ErrorCode, got.LogStartOffset)
	}

	consumer := tb.client(t,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"ret": {0: kgo.NewOffset().At(0)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var first int64 = -1
	var n int
	for n < int(160-start.Offset) {
		fs := consumer.PollFetches(testCtx(t))
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if first < 0 {
				first = r.Offset
			}
			n++
		})
	}
	if first != start.Offset {
		t.Fatalf("consumer resumed at %d, want the new start %d", first, start.Offset)
	}
}

// A retention change made live with IncrementalAlterConfigs takes effect at
// the next retention pass, without a restart.
func TestHandlersLiveRetentionChange(t *testing.T) {
	tb := startBroker(t)
	segment := "4096"
	createTopic(t, tb, "live", 1, map[string]*string{"segment.bytes": &segment})
	cl := tb.client(t)
	for i := 0; i < 40; i++ {
		b := recordtest.Simple(4, time.Now().UnixMilli())
		for k := range b.Records {
			b.Records[k].Value = make([]byte, 300)
		}
		if r := produceRaw(t, cl, "live", 0, 1, b.Encode()); r.ErrorCode != 0 {
			t.Fatal(r.ErrorCode)
		}
	}
	if n := tb.b.ApplyRetention(); n != 0 {
		t.Fatalf("default retention (7 days) deleted %d segments", n)
	}
	limit := "8192"
	resp, err := tb.admin(t).AlterTopicConfigs(testCtx(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: &limit}}, "live")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("alter: %v %v", err, resp)
	}
	if n := tb.b.ApplyRetention(); n == 0 {
		t.Fatal("the live retention.bytes change deleted nothing")
	}
	offsets, err := tb.admin(t).ListStartOffsets(testCtx(t), "live")
	if err != nil {
		t.Fatal(err)
	}
	if start, _ := offsets.Lookup("live", 0); start.Offset <= 0 {
		t.Fatalf("start offset %d after the live change", start.Offset)
	}
}
