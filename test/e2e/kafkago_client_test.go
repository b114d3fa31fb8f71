package e2e

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

// TestE2EKafkaGoClient drives kafka-go's request-level Client API
// (Metadata, Produce, ListOffsets, Fetch) beside its Writer and Reader, as a
// new user would: Client.Produce writes partition 1 and a Reader reads it
// back; a Writer writes partition 0 and Client.Fetch reads it back, right
// after producing.
//
// kafka-go's Client.Fetch sends a full fetch with SessionID -1 and
// SessionEpoch -1 (FINAL_EPOCH, KIP-227: no session wanted); Kafka serves
// any request with epoch -1 or 0 as a full fetch whatever its session id.
// A broker that took session id -1 for an unknown session answered
// FETCH_SESSION_ID_NOT_FOUND without topics, which kafka-go reports as
// "topic not found".
func TestE2EKafkaGoClient(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, b.Addr)
	topic := topicName(t, "")
	createTopic(t, ctx, adm, topic, 2, nil)
	logs := failureLog(t, "kafka-go")
	cl := &kafka.Client{Addr: kafka.TCP(b.Addr), Timeout: 10 * time.Second}

	// Metadata: the one broker leads both partitions.
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("kafka-go Client.Metadata: %v", err)
	}
	if len(md.Brokers) != 1 || fmt.Sprintf("%s:%d", md.Brokers[0].Host, md.Brokers[0].Port) != b.Addr {
		t.Errorf("Client.Metadata brokers %+v, want one at %s", md.Brokers, b.Addr)
	}
	if md.Controller.ID != md.Brokers[0].ID {
		t.Errorf("Client.Metadata controller %+v, want broker %d", md.Controller, md.Brokers[0].ID)
	}
	if md.ClusterID == "" {
		t.Errorf("Client.Metadata: no cluster id")
	}
	if len(md.Topics) != 1 || md.Topics[0].Name != topic || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) != 2 {
		t.Fatalf("Client.Metadata topics %+v, want %s with 2 partitions", md.Topics, topic)
	}
	for _, p := range md.Topics[0].Partitions {
		if p.Error != nil || p.Leader.ID != md.Brokers[0].ID || len(p.Isr) != 1 {
			t.Errorf("Client.Metadata partition %+v, want led by broker %d with an ISR of one", p, md.Brokers[0].ID)
		}
	}

	// Client.Produce (acks=all) to partition 1, in two requests; a Reader
	// reads them back.
	const n = 20
	var sent1 []string
	for round := range 2 {
		var recs []kafka.Record
		for i := range n / 2 {
			v := fmt.Sprintf("client-%02d", round*n/2+i)
			sent1 = append(sent1, v)
			recs = append(recs, kafka.Record{Key: kafka.NewBytes([]byte("k")), Value: kafka.NewBytes([]byte(v))})
		}
		res, err := cl.Produce(ctx, &kafka.ProduceRequest{
			Topic: topic, Partition: 1, RequiredAcks: kafka.RequireAll,
			Records: kafka.NewRecordReader(recs...),
		})
		if err != nil {
			t.Fatalf("kafka-go Client.Produce: %v", err)
		}
		if res.Error != nil || res.BaseOffset != int64(round*n/2) {
			t.Fatalf("Client.Produce round %d: base offset %d, error %v; want %d, none", round, res.BaseOffset, res.Error, round*n/2)
		}
	}

	// ListOffsets: first and last of both partitions.
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0), kafka.FirstOffsetOf(1), kafka.LastOffsetOf(1)},
	}})
	if err != nil {
		t.Fatalf("kafka-go Client.ListOffsets: %v", err)
	}
	wantOffsets := map[int][2]int64{0: {0, 0}, 1: {0, n}}
	if len(lo.Topics[topic]) != 2 {
		t.Errorf("Client.ListOffsets: %+v, want both partitions", lo.Topics)
	}
	for _, po := range lo.Topics[topic] {
		if w := wantOffsets[po.Partition]; po.Error != nil || po.FirstOffset != w[0] || po.LastOffset != w[1] {
			t.Errorf("Client.ListOffsets partition %d: first %d, last %d, error %v; want %d, %d", po.Partition, po.FirstOffset, po.LastOffset, po.Error, w[0], w[1])
		}
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{b.Addr}, Topic: topic, Partition: 1,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond,
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) { fmt.Fprintf(logs, "reader: "+f+"\n", a...) }),
	})
	for i, want := range sent1 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go Reader at offset %d: %v", i, err)
		}
		if m.Offset != int64(i) || string(m.Value) != want || string(m.Key) != "k" {
			t.Fatalf("Reader: offset %d key %q value %q, want offset %d key %q value %q", m.Offset, m.Key, m.Value, i, "k", want)
		}
	}
	if err := r.Close(); err != nil {
		t.Errorf("closing the kafka-go reader: %v", err)
	}

	// A Writer (acks=all) writes partition 0; Client.Fetch reads it back at
	// once, from the first offset, from the middle and from the end.
	w := &kafka.Writer{
		Addr: kafka.TCP(b.Addr), Topic: topic, RequiredAcks: kafka.RequireAll,
		Balancer:     kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
		BatchTimeout: 5 * time.Millisecond,
		ErrorLogger:  kafka.LoggerFunc(func(f string, a ...any) { fmt.Fprintf(logs, "writer: "+f+"\n", a...) }),
	}
	var sent0 []string
	var msgs []kafka.Message
	for i := range n {
		v := fmt.Sprintf("writer-%02d", i)
		sent0 = append(sent0, v)
		msgs = append(msgs, kafka.Message{Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("kafka-go Writer.WriteMessages: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("closing the kafka-go writer: %v", err)
	}

	for _, fc := range []struct {
		name string
		from int64
	}{{"first", kafka.FirstOffset}, {"middle", 7}, {"end", n}} {
		from := fc.from
		t.Run("fetch-"+fc.name, func(t *testing.T) {
			res, err := cl.Fetch(ctx, &kafka.FetchRequest{
				Topic: topic, Partition: 0, Offset: from,
				MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatalf("kafka-go Client.Fetch: %v", err)
			}
			if res.Error != nil || res.Topic != topic || res.Partition != 0 || res.HighWatermark != n {
				t.Fatalf("Client.Fetch: topic %q partition %d high watermark %d error %v; want %s, 0, %d, none",
					res.Topic, res.Partition, res.HighWatermark, res.Error, topic, n)
			}
			start := max(from, 0)
			next := start
			for {
				rec, err := res.Records.ReadRecord()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("Client.Fetch records at offset %d: %v", next, err)
				}
				if rec.Offset < start {
					continue // a batch may begin before the offset asked for
				}
				v, err := kafka.ReadAll(rec.Value)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Offset != next || string(v) != sent0[next] {
					t.Fatalf("Client.Fetch: offset %d value %q, want offset %d value %q", rec.Offset, v, next, sent0[next])
				}
				next++
			}
			if next != n {
				t.Errorf("Client.Fetch from %d read up to offset %d, want %d", from, next, n)
			}
		})
	}
	b.assertRunning(t)
}
