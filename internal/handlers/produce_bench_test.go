package handlers_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// BenchmarkHandlersProduce: one connection sending Produce requests of one
// uncompressed batch (1,000 records of 1 KiB, as franz-go batches under
// load) to one partition, acks=1 and acks=all, without idempotence (the
// same batch is sent again and again). Client and broker share the
// process: ns/op is both sides' CPU, and the client's part (encoding the
// request, reading the answer) is small beside the broker's; run with
// -cpuprofile to see where the broker spends it.
func BenchmarkHandlersProduce(b *testing.B) {
	tb := startBroker(b)
	cl := tb.client(b)
	createTopic(b, tb, "bench-produce", 1, nil)
	id := topicID(b, cl, "bench-produce")
	batch := recordtest.Batch{ProducerID: -1, BaseSequence: -1}
	now := time.Now().UnixMilli()
	for i := range 1000 {
		v := make([]byte, 1024)
		rand.Read(v)
		batch.Records = append(batch.Records, recordtest.Record{Value: v, Timestamp: now + int64(i)})
	}
	raw := batch.Encode()
	br := cl.Broker(1)
	for _, acks := range []int16{1, -1} {
		name := "acks=1"
		if acks == -1 {
			name = "acks=all"
		}
		b.Run(name, func(b *testing.B) {
			req := kmsg.NewPtrProduceRequest()
			req.Acks, req.TimeoutMillis = acks, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic, rt.TopicID = "bench-produce", id
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = 0, raw
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			b.SetBytes(1000 * 1024)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := br.Request(testCtx(b), req)
				if err != nil {
					b.Fatal(err)
				}
				if ec := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; ec != 0 {
					b.Fatalf("error %d", ec)
				}
			}
		})
	}
}
