package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

func kafkaGoCodec(t *testing.T, name string) kafka.Compression {
	switch name {
	case "none":
		return 0
	case "gzip":
		return kafka.Gzip
	case "snappy":
		return kafka.Snappy
	case "lz4":
		return kafka.Lz4
	case "zstd":
		return kafka.Zstd
	}
	t.Fatalf("unknown codec %q", name)
	return 0
}

// TestE2EKafkaGoRoundTrip produces keyed records with segmentio/kafka-go's
// Writer into auto-created topics (num.partitions=4) under each codec and
// reads every partition back with partition Readers (no group).
func TestE2EKafkaGoRoundTrip(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withSet("num.partitions=4", "auto.create.topics.enable=true"))
	ctx := testContext(t, 3*time.Minute)

	const n = 500
	type variant struct {
		name     string
		codec    string
		balancer kafka.Balancer
		acks     kafka.RequiredAcks
	}
	var variants []variant
	for _, codec := range compressionCodecs {
		variants = append(variants, variant{name: "murmur2/" + codec, codec: codec, balancer: kafka.Murmur2Balancer{}, acks: kafka.RequireAll})
	}
	variants = append(variants,
		variant{name: "hash-acks1/none", codec: "none", balancer: &kafka.Hash{}, acks: kafka.RequireOne},
		variant{name: "crc32-acks1/snappy", codec: "snappy", balancer: kafka.CRC32Balancer{}, acks: kafka.RequireOne},
	)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			topic := topicName(t, "")
			logs := failureLog(t, "kafka-go")
			w := &kafka.Writer{
				Addr:                   kafka.TCP(b.Addr),
				Topic:                  topic,
				Balancer:               v.balancer,
				RequiredAcks:           v.acks,
				Compression:            kafkaGoCodec(t, v.codec),
				BatchSize:              50,
				BatchTimeout:           5 * time.Millisecond,
				AllowAutoTopicCreation: true,
				ErrorLogger:            kafka.LoggerFunc(func(f string, a ...any) { fmt.Fprintf(logs, "writer: "+f+"\n", a...) }),
			}
			defer func() {
				if err := w.Close(); err != nil {
					t.Errorf("closing the kafka-go writer: %v", err)
				}
			}()
			recs := workload(v.codec, n)
			msgs := make([]kafka.Message, n)
			for i, r := range recs {
				msgs[i] = kafka.Message{Key: []byte(r.Key), Value: []byte(r.Value)}
			}
			// The first write creates the topic; kafka-go retries
			// while the new topic's partitions become known.
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("kafka-go WriteMessages: %v", err)
			}
			conn, err := kafka.DialContext(ctx, "tcp", b.Addr)
			if err != nil {
				t.Fatalf("kafka-go Dial: %v", err)
			}
			parts, err := conn.ReadPartitions(topic)
			conn.Close()
			if err != nil || len(parts) != 4 {
				t.Fatalf("kafka-go ReadPartitions(%s): %d partitions, %v; want 4 (num.partitions)", topic, len(parts), err)
			}
			got := consumeKafkaGo(t, ctx, b.Addr, topic, 4, logs)
			verifyRoundTrip(t, recs, got)
		})
	}
	b.assertRunning(t)
}

// consumeKafkaGo reads partitions 0..partitions-1 of topic from the first
// to the last offset (both listed through kafka-go's Conn) with one Reader
// per partition.
func consumeKafkaGo(t *testing.T, ctx context.Context, addr, topic string, partitions int, logs *syncBuffer) []gotRecord {
	t.Helper()
	var got []gotRecord
	for p := 0; p < partitions; p++ {
		conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, p)
		if err != nil {
			t.Fatalf("kafka-go DialLeader(%s[%d]): %v", topic, p, err)
		}
		first, last, err := conn.ReadOffsets()
		conn.Close()
		if err != nil {
			t.Fatalf("kafka-go ReadOffsets(%s[%d]): %v", topic, p, err)
		}
		if last == first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:     []string{addr},
			Topic:       topic,
			Partition:   p,
			MinBytes:    1,
			MaxBytes:    1 << 20,
			MaxWait:     200 * time.Millisecond,
			StartOffset: kafka.FirstOffset,
			ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) { fmt.Fprintf(logs, "reader: "+f+"\n", a...) }),
		})
		next := first
		for next < last {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("kafka-go ReadMessage(%s[%d]) at %d of [%d, %d): %v", topic, p, next, first, last, err)
			}
			got = append(got, gotRecord{Partition: int32(m.Partition), Offset: m.Offset, Key: string(m.Key), Value: string(m.Value)})
			next = m.Offset + 1
		}
		if err := r.Close(); err != nil {
			t.Errorf("closing the kafka-go reader: %v", err)
		}
	}
	return got
}
