package handlers_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkHandlersFetchSession: one idle fetch of 1,000 partitions (all
// consumed, nothing new, MaxWait 0) as a full fetch and as an incremental
// one in a session, over one connection; client and broker in this
// process, so ns/op is both sides' CPU, bytes/op what crossed the socket.
func BenchmarkHandlersFetchSession(b *testing.B) {
	tb := startBroker(b)
	const parts = 1000
	cl := tb.client(b)
	if _, err := kadm.NewClient(cl).CreateTopic(testCtx(b), parts, 1, nil, "bench-wide"); err != nil {
		b.Fatal(err)
	}
	td, err := kadm.NewClient(cl).ListTopics(testCtx(b), "bench-wide")
	if err != nil || td["bench-wide"].Err != nil {
		b.Fatal(err, td["bench-wide"].Err)
	}
	id := [16]byte(td["bench-wide"].ID)
	full := func() *kmsg.FetchRequest {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 50<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "bench-wide", id
		for p := range int32(parts) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = p, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return req
	}
	br := cl.Broker(1)
	for _, mode := range []string{"full", "incremental"} {
		b.Run(mode, func(b *testing.B) {
			req := full()
			if mode == "incremental" {
				req.SessionEpoch = 0
				resp, err := br.Request(testCtx(b), req)
				if err != nil {
					b.Fatal(err)
				}
				req = kmsg.NewPtrFetchRequest()
				req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 50<<20
				req.SessionID, req.SessionEpoch = resp.(*kmsg.FetchResponse).SessionID, 1
				if req.SessionID == 0 {
					b.Fatal("no session")
				}
			}
			reqBytes := len(req.AppendTo(nil))
			var respBytes int
			b.ReportAllocs()
			for b.Loop() {
				resp, err := br.Request(testCtx(b), req)
				if err != nil {
					b.Fatal(err)
				}
				r := resp.(*kmsg.FetchResponse)
				if r.ErrorCode != 0 {
					b.Fatalf("error %d", r.ErrorCode)
				}
				respBytes = len(r.AppendTo(nil))
				if req.SessionEpoch > 0 {
					req.SessionEpoch++
				}
			}
			b.ReportMetric(float64(reqBytes+respBytes), "bytes/op")
		})
	}
}
