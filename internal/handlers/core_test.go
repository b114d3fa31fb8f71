package handlers_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// request sends one raw kmsg request through a franz-go client.
func request[R kmsg.Response](t testing.TB, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Request(testCtx(t), req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(R)
}

func produceRaw(t *testing.T, cl *kgo.Client, topic string, partition int32, acks int16, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic                   // up to v12
	rt.TopicID = topicID(t, cl, topic) // v13+: franz-go sends the newest version both sides know
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.ProduceResponse](t, cl, req)
	return resp.Topics[0].Partitions[0]
}

// topicID looks a topic's id up with a Metadata request (zero if unknown).
func topicID(t testing.TB, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	req.Topics = append(req.Topics, mt)
	return request[*kmsg.MetadataResponse](t, cl, req).Topics[0].TopicID
}

func createTopic(t testing.TB, tb *testBroker, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := tb.admin(t).CreateTopic(testCtx(t), partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, resp.Err)
	}
}

func TestHandlersProduceConsumeRoundTrip(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "orders", 3, nil)
	cl := tb.client(t, kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	const n = 300
	offsets := map[int32][]int64{}
	for i := 0; i < n; i++ {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("key-%d", i%17)), Value: []byte(fmt.Sprintf("v%d", i))}
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		offsets[r.Partition] = append(offsets[r.Partition], r.Offset)
	}
	for p, offs := range offsets {
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("partition %d: record %d got offset %d", p, i, o)
			}
		}
	}
	consumer := tb.client(t, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen, keyPart := 0, map[string]int32{}
	for seen < n {
		fs := consumer.PollFetches(testCtx(t))
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if p, ok := keyPart[string(r.Key)]; ok && p != r.Partition {
				t.Errorf("key %s in partitions %d and %d", r.Key, p, r.Partition)
			}
			keyPart[string(r.Key)] = r.Partition
			seen++
		})
	}
	if seen != n {
		t.Fatalf("consumed %d of %d", seen, n)
	}
}

func TestHandlersIdempotentSequences(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "idem", 1, nil)
	cl := tb.client(t)
	batch := func(seq int32, epoch int16) []byte {
		b := recordtest.Simple(3, time.Now().UnixMilli())
		b.ProducerID, b.ProducerEpoch, b.BaseSequence = 7, epoch, seq
		return b.Encode()
	}
	if r := produceRaw(t, cl, "idem", 0, -1, batch(0, 0)); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("first batch: %+v", r)
	}
	if r := produceRaw(t, cl, "idem", 0, -1, batch(3, 0)); r.ErrorCode != 0 || r.BaseOffset != 3 {
		t.Fatalf("second batch: %+v", r)
	}
	// A retry of the first batch is a duplicate: answered with its offset.
	if r := produceRaw(t, cl, "idem", 0, -1, batch(0, 0)); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("duplicate: %+v", r)
	}
	if r := produceRaw(t, cl, "idem", 0, -1, batch(9, 0)); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: got error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", r.ErrorCode)
	}
	if r := produceRaw(t, cl, "idem", 0, -1, batch(5, 1)); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("new epoch not at 0: got %d", r.ErrorCode)
	}
	if r := produceRaw(t, cl, "idem", 0, -1, batch(0, 1)); r.ErrorCode != 0 || r.BaseOffset != 6 {
		t.Fatalf("new epoch: %+v", r)
	}
	if r := produceRaw(t, cl, "idem", 0, -1, batch(3, 0)); r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: got %d, want INVALID_PRODUCER_EPOCH", r.ErrorCode)
	}
	// The state survives a restart (snapshot at close).
	dir := tb.cfg.DataDir()
	tb.stop()
	tb2 := startBrokerIn(t, dir)
	cl2 := tb2.client(t)
	if r := produceRaw(t, cl2, "idem", 0, -1, batch(0, 1)); r.ErrorCode != 0 || r.BaseOffset != 6 {
		t.Fatalf("duplicate after restart: %+v", r)
	}
	if r := produceRaw(t, cl2, "idem", 0, -1, batch(3, 1)); r.ErrorCode != 0 || r.BaseOffset != 9 {
		t.Fatalf("next batch after restart: %+v", r)
	}
}

func TestHandlersProduceValidation(t *testing.T) {
	tb := startBroker(t, "message.max.bytes=2000")
	createTopic(t, tb, "v", 1, nil)
	cl := tb.client(t)
	good := recordtest.Simple(2, time.Now().UnixMilli()).Encode()
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	big := recordtest.Batch{ProducerID: -1, BaseSequence: -1, Records: []recordtest.Record{{Value: bytes.Repeat([]byte("x"), 3000), Timestamp: time.Now().UnixMilli()}}}.Encode()
	for _, c := range []struct {
		name      string
		topic     string
		partition int32
		batch     []byte
		want      int16
	}{
		{"ok", "v", 0, good, 0},
		{"crc", "v", 0, bad, kerr.CorruptMessage.Code},
		{"truncated", "v", 0, good[:40], kerr.CorruptMessage.Code},
		{"too large", "v", 0, big, kerr.MessageTooLarge.Code},
		{"unknown topic", "nope", 0, good, kerr.UnknownTopicID.Code}, // franz-go sends v13: topics by id
		{"unknown partition", "v", 5, good, kerr.UnknownTopicOrPartition.Code},
	} {
		if r := produceRaw(t, cl, c.topic, c.partition, 1, c.batch); r.ErrorCode != c.want {
			t.Errorf("%s: got error %d, want %d", c.name, r.ErrorCode, c.want)
		}
	}
	// franz-go overrides acks with its own setting, so send this one raw.
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = 5, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "v"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = recordtest.Simple(1, time.Now().UnixMilli()).Encode()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if r := rawRequest(t, tb.addr, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; r.ErrorCode != kerr.InvalidRequiredAcks.Code {
		t.Errorf("acks=5: got %d", r.ErrorCode)
	}
	// Produce v3 by name still works, and unknown names get UNKNOWN_TOPIC_OR_PARTITION.
	req.SetVersion(3)
	req.Acks = 1
	rp.Records = recordtest.Simple(1, time.Now().UnixMilli()).Encode()
	req.Topics[0].Partitions[0] = rp
	if r := rawRequest(t, tb.addr, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; r.ErrorCode != 0 || r.BaseOffset != 2 {
		t.Errorf("produce v3: %+v", r)
	}
	req.Topics[0].Topic = "nope"
	if r := rawRequest(t, tb.addr, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("produce v3 unknown topic: got %d", r.ErrorCode)
	}
}

func TestHandlersLogAppendTime(t *testing.T) {
	tb := startBroker(t)
	lat := "LogAppendTime"
	createTopic(t, tb, "lat", 1, map[string]*string{"message.timestamp.type": &lat})
	cl := tb.client(t)
	before := time.Now().UnixMilli()
	r := produceRaw(t, cl, "lat", 0, 1, recordtest.Simple(2, 1000).Encode())
	if r.ErrorCode != 0 || r.LogAppendTime < before {
		t.Fatalf("log append time not reported: %+v", r)
	}
	consumer := tb.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"lat": {0: kgo.NewOffset().AtStart()}}))
	fs := consumer.PollFetches(testCtx(t))
	var got int
	fs.EachRecord(func(rec *kgo.Record) {
		got++
		if rec.Timestamp.UnixMilli() != r.LogAppendTime {
			t.Errorf("record timestamp %d, want broker time %d", rec.Timestamp.UnixMilli(), r.LogAppendTime)
		}
	})
	if got != 2 || fs.Err() != nil {
		t.Fatalf("consumed %d records, err %v", got, fs.Err())
	}
}

func TestHandlersFetchLongPollWakesOnProduce(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "lp", 1, nil)
	cl := tb.client(t)
	done := make(chan *kmsg.FetchResponse, 1)
	id := topicID(t, cl, "lp")
	go func() {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 20000, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "lp", id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	waitFor(t, 10*time.Second, func() error { // the fetch waits for data
		if n := tb.h.ParkedFetches(); n != 1 {
			return fmt.Errorf("%d fetches waiting", n)
		}
		return nil
	})
	if r := produceRaw(t, tb.client(t), "lp", 0, 1, recordtest.Simple(1, time.Now().UnixMilli()).Encode()); r.ErrorCode != 0 {
		t.Fatal(r.ErrorCode)
	}
	resp := <-done
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
		t.Fatalf("long poll answered %+v", p)
	}
}

func TestHandlersListOffsets(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "lo", 1, nil)
	cl := tb.client(t)
	base := time.Now().UnixMilli() - 10000
	for i := 0; i < 3; i++ {
		b := recordtest.Simple(2, base+int64(i*100)) // timestamps base+100i, base+100i+1
		if r := produceRaw(t, cl, "lo", 0, 1, b.Encode()); r.ErrorCode != 0 {
			t.Fatal(r.ErrorCode)
		}
	}
	list := func(ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return request[*kmsg.ListOffsetsResponse](t, cl, req).Topics[0].Partitions[0]
	}
	for _, c := range []struct {
		ts, off int64
	}{{-1, 6}, {-2, 0}, {-3, 5}, {base, 0}, {base + 1, 1}, {base + 50, 2}, {base + 201, 5}, {base + 202, -1}} {
		if got := list(c.ts); got.ErrorCode != 0 || got.Offset != c.off {
			t.Errorf("timestamp %d: got offset %d (err %d), want %d", c.ts, got.Offset, got.ErrorCode, c.off)
		}
	}
}

func TestHandlersMetadataAutoCreateAndTopicIDs(t *testing.T) {
	tb := startBroker(t, "num.partitions=4")
	cl := tb.client(t)
	req := kmsg.NewPtrMetadataRequest()
	name := "auto.created"
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &name
	req.Topics = append(req.Topics, mt)
	req.AllowAutoTopicCreation = true
	resp := request[*kmsg.MetadataResponse](t, cl, req)
	got := resp.Topics[0]
	if got.ErrorCode != 0 || len(got.Partitions) != 4 || got.TopicID == [16]byte{} {
		t.Fatalf("auto-created topic: %+v", got)
	}
	bad := "bad/name"
	req.Topics[0].Topic = &bad
	if resp := request[*kmsg.MetadataResponse](t, cl, req); resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("invalid name: %d", resp.Topics[0].ErrorCode)
	}
	none := "not.created"
	req.Topics[0].Topic = &none
	req.AllowAutoTopicCreation = false
	if resp := request[*kmsg.MetadataResponse](t, cl, req); resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("no auto-create: %d", resp.Topics[0].ErrorCode)
	}
	// Lookup by id (v12+).
	byID := kmsg.NewPtrMetadataRequest()
	it := kmsg.NewMetadataRequestTopic()
	it.TopicID = got.TopicID
	byID.Topics = append(byID.Topics, it)
	if resp := request[*kmsg.MetadataResponse](t, cl, byID); resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != name {
		t.Fatalf("lookup by id: %+v", resp.Topics[0])
	}
}

// rawRoundTrip writes one frame and reads one response frame.
func rawRoundTrip(t *testing.T, addr string, frame []byte) ([]byte, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err = io.ReadFull(c, body)
	return body, err
}

// rawRequest sends req at its set version on a fresh connection and decodes
// the answer.
func rawRequest(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	body, err := rawRoundTrip(t, addr, kmsg.NewRequestFormatter().AppendRequest(nil, req, 1))
	if err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	skip := 4
	if resp.IsFlexible() && req.Key() != 18 {
		skip++
	}
	if err := resp.ReadFrom(body[skip:]); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestHandlersApiVersionsFallback(t *testing.T) {
	tb := startBroker(t)
	// ApiVersions v99, correlation id 42, client id "x".
	frame := []byte{0, 0, 0, 0, 0, 18, 0, 99, 0, 0, 0, 42, 0, 1, 'x', 0xde, 0xad}
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	body, err := rawRoundTrip(t, tb.addr, frame)
	if err != nil {
		t.Fatal(err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != 42 {
		t.Fatalf("correlation id %d", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) < 10 {
		t.Fatalf("fallback: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestHandlersBadFramesCloseOnlyThatConnection(t *testing.T) {
	tb := startBroker(t, "socket.request.max.bytes=1048576")
	for name, frame := range map[string][]byte{
		"negative size": {0xff, 0xff, 0xff, 0xf0, 1, 2, 3},
		"over max size": {0x10, 0, 0, 0, 1, 2, 3},
		"garbage":       {0, 0, 0, 10, 0x7f, 0x7f, 0, 1, 0, 0, 0, 1, 0xff, 0xff},
		"bad body":      {0, 0, 0, 12, 0, 3, 0, 9, 0, 0, 0, 1, 0, 0, 0x05, 0x01},
	} {
		if _, err := rawRoundTrip(t, tb.addr, frame); err == nil {
			t.Errorf("%s: got a response, want the connection closed", name)
		}
	}
	// The broker still serves other connections.
	if _, err := tb.admin(t).ListTopics(testCtx(t)); err != nil {
		t.Fatalf("broker unusable after bad frames: %v", err)
	}
}

func TestHandlersOffsetForLeaderEpoch(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "ep", 1, nil)
	cl := tb.client(t)
	produceRaw(t, cl, "ep", 0, 1, recordtest.Simple(4, time.Now().UnixMilli()).Encode())
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "ep"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	got := request[*kmsg.OffsetForLeaderEpochResponse](t, cl, req).Topics[0].Partitions[0]
	if got.ErrorCode != 0 || got.LeaderEpoch != 0 || got.EndOffset != 4 {
		t.Fatalf("epoch 0: %+v", got)
	}
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 3
	if got := request[*kmsg.OffsetForLeaderEpochResponse](t, cl, req).Topics[0].Partitions[0]; got.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("future epoch: %+v", got)
	}
}

// A dynamic broker default reaches topics that have no override of their own.
func TestHandlersDynamicBrokerConfigReachesTopics(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "dyn", 1, nil)
	cl := tb.client(t)
	batch := recordtest.Batch{ProducerID: -1, BaseSequence: -1, Records: []recordtest.Record{{Value: bytes.Repeat([]byte("x"), 2000), Timestamp: time.Now().UnixMilli()}}}.Encode()
	if r := produceRaw(t, cl, "dyn", 0, 1, batch); r.ErrorCode != 0 {
		t.Fatalf("before: %d", r.ErrorCode)
	}
	v := "1000"
	resp, err := tb.admin(t).AlterBrokerConfigs(testCtx(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "message.max.bytes", Value: &v}})
	if err != nil || resp[0].Err != nil {
		t.Fatalf("alter: %v %v", err, resp)
	}
	if r := produceRaw(t, cl, "dyn", 0, 1, batch); r.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("after lowering message.max.bytes: error %d, want MESSAGE_TOO_LARGE", r.ErrorCode)
	}
}

// An acks=0 produce gets no answer; when it failed (here: an unknown topic,
// as for a broker that no longer leads) the broker closes the connection,
// as Kafka does, so the producer refreshes its metadata instead of sending
// on. Before, the error was dropped and the connection served on.
func TestHandlersAcksZeroFailureClosesConnection(t *testing.T) {
	tb := startBroker(t)
	if _, err := tb.admin(t).CreateTopic(testCtx(t), 1, 1, nil, "ok"); err != nil {
		t.Fatal(err)
	}
	produce := func(topic string) []byte {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = 0, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = recordtest.Simple(1, time.Now().UnixMilli()).Encode()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)
	}
	apiVersions := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 2)
	for _, c := range []struct {
		topic  string
		closed bool
	}{{"ok", false}, {"missing", true}} {
		frames := append(produce(c.topic), apiVersions...)
		_, err := rawRoundTrip(t, tb.addr, frames)
		if closed := err != nil; closed != c.closed {
			t.Errorf("acks=0 produce to %q: connection closed %v (%v), want %v", c.topic, closed, err, c.closed)
		}
	}
}

// A batch with a valid CRC whose record declares a value of 2^31-1 bytes or
// 2^31-1 headers is refused with INVALID_RECORD and nothing is stored
// (compressed too); before, it was stored, and consumers stalled on it.
func TestHandlersMalformedRecordsRefused(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb, "bad", 1, nil)
	cl := tb.client(t)
	now := time.Now().UnixMilli()
	huge := recordtest.Raw(0, nil, []byte("v"))
	huge.ValueLength = 1<<31 - 1
	headers := recordtest.Raw(0, nil, []byte("v"))
	headers.HeaderCount = 1<<31 - 1
	for _, c := range []struct {
		name  string
		rec   recordtest.RawRecord
		codec int8
	}{{"value length 2^31-1", huge, 0}, {"header count 2^31-1", headers, 0}, {"value length 2^31-1, lz4", huge, 3}, {"header count 2^31-1, zstd", headers, 4}} {
		batch := recordtest.Sealed{Records: c.rec.AppendTo(nil), NumRecords: 1, FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, BaseSequence: -1, Codec: c.codec}.Seal()
		r := produceRaw(t, cl, "bad", 0, 1, batch)
		if r.ErrorCode != kerr.InvalidRecord.Code || r.BaseOffset != -1 {
			t.Errorf("%s: error %v, offset %d; want INVALID_RECORD, nothing stored", c.name, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
		}
	}
	if _, p, _ := tb.b.Partition("bad", 0); p.LogEndOffset() != 0 {
		t.Fatalf("malformed batches stored: log end %d", p.LogEndOffset())
	}
}
