package handlers_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// compression.type other than producer recompresses batches on append;
// producer keeps the client's codec. Consumers read the same records.
func TestHandlersTopicCompressionType(t *testing.T) {
	tb := startBroker(t)
	cl := tb.client(t)
	for _, c := range []struct {
		compression string
		sent        int8
		want        record.Codec
	}{
		{"producer", 2, record.CodecSnappy},
		{"zstd", 0, record.CodecZstd},
		{"gzip", 3, record.CodecGzip},
		{"uncompressed", 4, record.CodecNone},
	} {
		topic := "comp-" + c.compression
		ct := c.compression
		createTopic(t, tb, topic, 1, map[string]*string{"compression.type": &ct})
		b := recordtest.Simple(10, time.Now().UnixMilli())
		b.Codec = c.sent
		if r := produceRaw(t, cl, topic, 0, 1, b.Encode()); r.ErrorCode != 0 {
			t.Fatalf("%s: produce error %d", topic, r.ErrorCode)
		}
		_, p, err := tb.b.Partition(topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Fetch(0, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := res.Records.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := record.Validate(stored)
		if err != nil || h.Codec() != c.want || h.NumRecords != 10 {
			t.Fatalf("%s: stored batch %v codec %v records %d, want codec %v", topic, err, h.Codec(), h.NumRecords, c.want)
		}
		consumer := tb.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		var got []string
		for len(got) < 10 {
			fs := consumer.PollFetches(testCtx(t))
			if err := fs.Err(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value)) })
		}
		for i, rec := range b.Records {
			if want := fmt.Sprintf("%d:%s", i, rec.Value); got[i] != want {
				t.Fatalf("%s: record %d is %q, want %q", topic, i, got[i], want)
			}
		}
	}
}
