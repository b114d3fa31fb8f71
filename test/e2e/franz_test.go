package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func kgoCodec(t *testing.T, name string) kgo.CompressionCodec {
	switch name {
	case "none":
		return kgo.NoCompression()
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	t.Fatalf("unknown codec %q", name)
	return kgo.CompressionCodec{}
}

// produceKgo produces recs in order with cl and waits for every promise;
// it records the partition and offset each promise reported (the offset
// only when reportOffsets, since acks=0 producers learn none).
func produceKgo(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, recs []sentRecord, reportOffsets bool) {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		failed   int
	)
	for i := range recs {
		r := &kgo.Record{Topic: topic, Key: []byte(recs[i].Key), Value: []byte(recs[i].Value)}
		wg.Add(1)
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = fmt.Errorf("record %d: %w", i, err)
				}
				return
			}
			recs[i].Partition = r.Partition
			if reportOffsets {
				recs[i].Offset = r.Offset
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("%d of %d produces failed, first: %v", failed, len(recs), firstErr)
	}
}

// TestE2EFranzRoundTrip produces keyed records with franz-go under each
// acks setting and compression codec and reads them back.
func TestE2EFranzRoundTrip(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testContext(t, 3*time.Minute)
	adm := newAdmin(t, b.Addr)

	const n = 500
	variants := []struct {
		name string
		opts []kgo.Opt
		// acks=0 producers are told no offsets, and their records may
		// still be on the wire when Flush returns.
		noAck bool
	}{
		{name: "idempotent"},
		{name: "acks1", opts: []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
		{name: "acks0", opts: []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}, noAck: true},
	}
	for _, v := range variants {
		for _, codec := range compressionCodecs {
			t.Run(v.name+"/"+codec, func(t *testing.T) {
				topic := topicName(t, "")
				createTopic(t, ctx, adm, topic, 4, nil)
				opts := append([]kgo.Opt{
					kgo.ProducerBatchCompression(kgoCodec(t, codec)),
					kgo.ProducerLinger(5 * time.Millisecond),
				}, v.opts...)
				prod := newKgo(t, b.Addr, opts...)
				recs := workload(codec, n)
				produceKgo(t, ctx, prod, topic, recs, !v.noAck)
				verifyProducerKeys(t, recs)
				if v.noAck {
					checkFor(t, 20*time.Second, func() error {
						total := int64(0)
						for _, r := range listRanges(t, ctx, adm, topic) {
							total += r.end - r.start
						}
						if total != n {
							return fmt.Errorf("%d of %d acks=0 records in the log", total, n)
						}
						return nil
					})
				}
				got := consumeKgo(t, ctx, b.Addr, topic)
				verifyRoundTrip(t, recs, got)
			})
		}
	}
	b.assertRunning(t)
}

// TestE2EFranzOffsets covers ListOffsets (earliest, latest, by timestamp),
// consuming from an offset in the middle, and record timestamps.
func TestE2EFranzOffsets(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, b.Addr)
	topic := topicName(t, "")
	createTopic(t, ctx, adm, topic, 1, nil)

	// One partition; record i carries the timestamp base + i seconds.
	const n = 200
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	prod := newKgo(t, b.Addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	results := prod.ProduceSync(ctx, func() []*kgo.Record {
		rs := make([]*kgo.Record, n)
		for i := range rs {
			rs[i] = &kgo.Record{
				Topic:     topic,
				Key:       []byte(workloadKey(i)),
				Value:     []byte(workloadValue("ts", i)),
				Timestamp: base.Add(time.Duration(i) * time.Second),
			}
		}
		return rs
	}()...)
	if err := results.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for i, r := range results {
		if r.Record.Offset != int64(i) {
			t.Fatalf("record %d was given offset %d, want %d (empty new partition, one producer)", i, r.Record.Offset, i)
		}
	}

	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListStartOffsets: %v", err)
	}
	if o, _ := starts.Lookup(topic, 0); o.Err != nil || o.Offset != 0 {
		t.Errorf("earliest offset = %+v, want 0", o)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	if o, _ := ends.Lookup(topic, 0); o.Err != nil || o.Offset != n {
		t.Errorf("latest offset = %+v, want %d", o, n)
	}

	byTime := []struct {
		name   string
		millis int64
		want   int64
	}{
		{"before all", base.Add(-time.Minute).UnixMilli(), 0},
		{"exact first", base.UnixMilli(), 0},
		{"exact middle", base.Add(120 * time.Second).UnixMilli(), 120},
		{"between records", base.Add(120*time.Second + 500*time.Millisecond).UnixMilli(), 121},
		{"exact last", base.Add((n - 1) * time.Second).UnixMilli(), n - 1},
		// Kafka answers -1 for "no such record"; kadm turns that into
		// the end offset.
		{"after all", base.Add(time.Hour).UnixMilli(), n},
	}
	for _, c := range byTime {
		lo, err := adm.ListOffsetsAfterMilli(ctx, c.millis, topic)
		if err != nil {
			t.Errorf("ListOffsetsAfterMilli %s: %v", c.name, err)
			continue
		}
		o, ok := lo.Lookup(topic, 0)
		if !ok || o.Err != nil || o.Offset != c.want {
			t.Errorf("ListOffsetsAfterMilli %s (%d): got %+v, want offset %d", c.name, c.millis, o, c.want)
		}
		if ok && o.Err == nil && c.want < n {
			wantTS := base.Add(time.Duration(c.want) * time.Second).UnixMilli()
			if o.Timestamp != wantTS {
				t.Errorf("ListOffsetsAfterMilli %s: timestamp %d, want %d (the record's)", c.name, o.Timestamp, wantTS)
			}
		}
	}

	// Consume from the middle: exactly records 150..199, with their
	// timestamps.
	const mid = 150
	cons := newKgo(t, b.Addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(mid)}}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	got := pollKgoUntilRecords(t, ctx, cons, topic, n-mid)
	for j, r := range got {
		i := mid + j
		if r.Offset != int64(i) || string(r.Value) != workloadValue("ts", i) || string(r.Key) != workloadKey(i) {
			t.Errorf("from offset %d: record %d is offset %d %q=%q, want offset %d %q=%q",
				mid, j, r.Offset, r.Key, r.Value, i, workloadKey(i), workloadValue("ts", i))
			break
		}
		if want := base.Add(time.Duration(i) * time.Second); !r.Timestamp.Equal(want) {
			t.Errorf("offset %d: timestamp %v, want %v", r.Offset, r.Timestamp, want)
			break
		}
	}
	// Nothing more may arrive: the log ends at n.
	shortCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	extra := cons.PollFetches(shortCtx)
	cancel()
	if extra.NumRecords() > 0 {
		t.Errorf("consumer from offset %d got %d records past the log end", mid, extra.NumRecords())
	}
}

// pollKgoUntilRecords polls until exactly want records have arrived.
func pollKgoUntilRecords(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, want int) []*kgo.Record {
	t.Helper()
	var got []*kgo.Record
	for len(got) < want {
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: %v after %d of %d records", topic, ctx.Err(), len(got), want)
		}
		fs := cl.PollFetches(ctx)
		for _, fe := range fs.Errors() {
			if fe.Err == context.DeadlineExceeded || fe.Err == context.Canceled {
				continue
			}
			t.Fatalf("fetch %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
		}
		got = append(got, fs.Records()...)
	}
	if len(got) != want {
		t.Fatalf("consumed %d records, want %d", len(got), want)
	}
	return got
}
