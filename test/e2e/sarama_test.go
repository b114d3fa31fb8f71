package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func saramaCodec(t *testing.T, name string) sarama.CompressionCodec {
	switch name {
	case "none":
		return sarama.CompressionNone
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	t.Fatalf("unknown codec %q", name)
	return sarama.CompressionNone
}

// TestE2ESaramaRoundTrip produces keyed records with sarama's SyncProducer
// and hash partitioner under each codec, then reads every partition back
// with sarama's partition consumer.
func TestE2ESaramaRoundTrip(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testContext(t, 3*time.Minute)
	adm := newAdmin(t, b.Addr)

	const n = 500
	variants := []struct {
		name   string
		codecs []string
		config func(*sarama.Config)
	}{
		// sarama's default protocol version (2.1) with acks=all.
		{name: "default", codecs: compressionCodecs, config: func(c *sarama.Config) {}},
		// A newer protocol version with the idempotent producer.
		{name: "idempotent", codecs: []string{"none", "zstd"}, config: func(c *sarama.Config) {
			c.Version = sarama.V3_6_0_0
			c.Producer.Idempotent = true
			c.Net.MaxOpenRequests = 1
		}},
		{name: "acks1", codecs: []string{"gzip"}, config: func(c *sarama.Config) {
			c.Producer.RequiredAcks = sarama.WaitForLocal
		}},
	}
	for _, v := range variants {
		for _, codec := range v.codecs {
			t.Run(v.name+"/"+codec, func(t *testing.T) {
				topic := topicName(t, "")
				createTopic(t, ctx, adm, topic, 4, nil)

				cfg := sarama.NewConfig()
				cfg.ClientID = "gregor-e2e-sarama"
				cfg.Producer.Return.Successes = true
				cfg.Producer.RequiredAcks = sarama.WaitForAll
				cfg.Producer.Partitioner = sarama.NewHashPartitioner
				cfg.Producer.Compression = saramaCodec(t, codec)
				cfg.Producer.Flush.Frequency = 5 * time.Millisecond
				cfg.Consumer.Return.Errors = true
				cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
				cfg.Metadata.Retry.Max = 10
				cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
				v.config(cfg)
				if err := cfg.Validate(); err != nil {
					t.Fatalf("sarama config: %v", err)
				}

				recs := workload(codec, n)
				produceSarama(t, b.Addr, cfg, topic, recs)
				verifyProducerKeys(t, recs)
				got := consumeSarama(t, ctx, b.Addr, cfg, topic)
				verifyRoundTrip(t, recs, got)
			})
		}
	}
	b.assertRunning(t)
}

func produceSarama(t *testing.T, addr string, cfg *sarama.Config, topic string, recs []sentRecord) {
	t.Helper()
	prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer: %v", err)
	}
	defer func() {
		if err := prod.Close(); err != nil {
			t.Errorf("closing the sarama producer: %v", err)
		}
	}()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)}
	}
	// Send in a few chunks so several produce requests carry batches of
	// one partition.
	const chunk = 100
	for lo := 0; lo < len(msgs); lo += chunk {
		hi := min(lo+chunk, len(msgs))
		if err := prod.SendMessages(msgs[lo:hi]); err != nil {
			var pe sarama.ProducerErrors
			if errors.As(err, &pe) && len(pe) > 0 {
				t.Fatalf("sarama SendMessages: %d failed, first: %v", len(pe), pe[0].Err)
			}
			t.Fatalf("sarama SendMessages: %v", err)
		}
	}
	for i, m := range msgs {
		recs[i].Partition = m.Partition
		recs[i].Offset = m.Offset
	}
}

// consumeSarama reads every partition from the oldest offset to the newest
// one (both listed through sarama) with sarama's partition consumers.
func consumeSarama(t *testing.T, ctx context.Context, addr string, cfg *sarama.Config, topic string) []gotRecord {
	t.Helper()
	client, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewClient: %v", err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatalf("sarama Partitions(%s): %v", topic, err)
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatalf("sarama.NewConsumerFromClient: %v", err)
	}
	defer cons.Close()

	var got []gotRecord
	for _, p := range parts {
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama GetOffset(%s[%d], oldest): %v", topic, p, err)
		}
		newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("sarama GetOffset(%s[%d], newest): %v", topic, p, err)
		}
		if newest == oldest {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama ConsumePartition(%s[%d]): %v", topic, p, err)
		}
		next := oldest
		for next < newest {
			select {
			case m := <-pc.Messages():
				got = append(got, gotRecord{Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: string(m.Value)})
				next = m.Offset + 1
			case cerr := <-pc.Errors():
				t.Fatalf("sarama consumer %s[%d]: %v", topic, p, cerr)
			case <-ctx.Done():
				t.Fatalf("sarama consumer %s[%d]: %v at offset %d, want up to %d", topic, p, ctx.Err(), next, newest)
			}
		}
		if err := pc.Close(); err != nil {
			t.Errorf("closing the sarama partition consumer %d: %v", p, err)
		}
	}
	if len(got) == 0 {
		t.Fatalf("sarama consumer read nothing from %s", topic)
	}
	return got
}

// TestE2ESaramaMetadata checks what sarama learns about the broker and an
// auto-created topic.
func TestE2ESaramaMetadata(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withSet("num.partitions=3", "auto.create.topics.enable=true"))
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Metadata.AllowAutoTopicCreation = true
	client, err := sarama.NewClient([]string{b.Addr}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewClient: %v", err)
	}
	defer client.Close()

	brokers := client.Brokers()
	if len(brokers) != 1 || brokers[0].Addr() != b.Addr {
		addrs := make([]string, len(brokers))
		for i, br := range brokers {
			addrs[i] = fmt.Sprintf("%d@%s", br.ID(), br.Addr())
		}
		t.Fatalf("sarama sees brokers %v, want one at %s", addrs, b.Addr)
	}
	topic := topicName(t, "auto")
	var parts []int32
	checkFor(t, 10*time.Second, func() error {
		if err := client.RefreshMetadata(topic); err != nil {
			return err
		}
		parts, err = client.Partitions(topic)
		if err != nil {
			return err
		}
		if len(parts) != 3 {
			return fmt.Errorf("auto-created topic has %d partitions, want 3 (num.partitions)", len(parts))
		}
		return nil
	})
	for _, p := range parts {
		leader, err := client.Leader(topic, p)
		if err != nil {
			t.Errorf("leader of %s[%d]: %v", topic, p, err)
		} else if leader.ID() != brokers[0].ID() {
			t.Errorf("leader of %s[%d] is broker %d, want %d", topic, p, leader.ID(), brokers[0].ID())
		}
	}
}
