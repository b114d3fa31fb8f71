package handlers

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/server"
	"github.com/gregor-dev/gregor/internal/storage"
)

// randomFetchResponse builds a response exercising every field the streaming
// encoder writes, with record bytes both from a partition's log (spliced)
// and in memory.
func randomFetchResponse(rng *rand.Rand, version int16, log *partition.Partition) *fetchResponse {
	r := &fetchResponse{FetchResponse: kmsg.NewPtrFetchResponse()}
	r.Version = version
	r.ThrottleMillis, r.ErrorCode, r.SessionID = rng.Int32N(100), int16(rng.IntN(3)), rng.Int32()
	for t := 0; t < 1+rng.IntN(3); t++ {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = "topic-" + string(rune('a'+t))
		rt.TopicID = [16]byte{byte(t), 9, 8, 7}
		var slices []partition.Records
		for p := 0; p < rng.IntN(4); p++ {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode = int32(p), int16(rng.IntN(2))
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64N(1000)
			sp.PreferredReadReplica = rng.Int32N(3) - 1
			switch rng.IntN(3) {
			case 0:
				sp.AbortedTransactions = nil
			case 1:
				sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			default:
				a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				a.ProducerID, a.FirstOffset = rng.Int64(), rng.Int64()
				sp.AbortedTransactions = append(sp.AbortedTransactions, a, a)
			}
			if rng.IntN(2) == 0 {
				sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = rng.Int32N(9), rng.Int64N(99)
			}
			if rng.IntN(2) == 0 {
				sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = rng.Int32N(9), rng.Int32N(9)
			}
			if rng.IntN(3) == 0 {
				sp.SnapshotID.EndOffset, sp.SnapshotID.Epoch = rng.Int64N(99), rng.Int32N(9)
			}
			var s partition.Records
			switch rng.IntN(4) {
			case 0: // spliced from the log's segment file
				res, err := log.Fetch(rng.Int64N(log.LogEndOffset()), 1+rng.Int32N(4096), true)
				if err != nil {
					panic(err)
				}
				s = res.Records
			case 1:
				sp.RecordBatches = []byte{}
			case 2:
				sp.RecordBatches = nil
			default:
				sp.RecordBatches = []byte("in-memory records")
			}
			rt.Partitions = append(rt.Partitions, sp)
			slices = append(slices, s)
		}
		r.Topics = append(r.Topics, rt)
		r.records = append(r.records, slices)
	}
	if rng.IntN(2) == 0 {
		b := kmsg.NewFetchResponseBroker()
		rack := "rack-1"
		b.NodeID, b.Host, b.Port, b.Rack = 3, "broker-3.example", 9092, &rack
		r.Brokers = append(r.Brokers, b, kmsg.NewFetchResponseBroker())
	}
	return r
}

// splice rebuilds the wire bytes from AppendStream's metadata and chunks.
func splice(t *testing.T, meta []byte, chunks []server.Chunk) []byte {
	var out []byte
	last := 0
	for _, c := range chunks {
		out = append(out, meta[last:c.At]...)
		var err error
		if out, err = c.Body.(partition.Records).AppendTo(out); err != nil {
			t.Fatal(err)
		}
		last = c.At
	}
	return append(out, meta[last:]...)
}

func TestHandlersFetchEncodingMatchesKmsg(t *testing.T) {
	log, err := partition.Open("t", 0, partition.Options{FS: storage.OS, Dir: t.TempDir(),
		Storage: storage.Options{SegmentBytes: 1 << 20, IndexIntervalBytes: 4096, SegmentIndexBytes: 1 << 20, FlushMessages: math.MaxInt64, FlushMs: math.MaxInt64}})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if err := log.BecomeLeader(0, []int32{0}, []int32{0}); err != nil {
		t.Fatal(err)
	}
	cfg := &partition.AppendConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64}
	for i := range 40 {
		raw := recordtest.Simple(1+i%5, time.Now().UnixMilli()).Encode()
		h, err := record.Validate(raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Produce(raw, &h, partition.AcksLeader, cfg); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for v := int16(4); v <= 18; v++ {
		for i := 0; i < 50; i++ {
			r := randomFetchResponse(rng, v, log)
			meta, chunks := r.AppendStream([]byte("prefix"))
			if !bytes.HasPrefix(meta, []byte("prefix")) {
				t.Fatal("AppendStream dropped dst")
			}
			got := splice(t, meta[len("prefix"):], chunks)
			want := r.AppendTo(nil) // reads the file ranges into memory, then kmsg encodes
			if !bytes.Equal(got, want) {
				t.Fatalf("v%d case %d: streamed encoding differs from kmsg\n got %x\nwant %x", v, i, got, want)
			}
			back := kmsg.NewPtrFetchResponse()
			back.Version = v
			if err := back.ReadFrom(got); err != nil {
				t.Fatalf("v%d: kmsg cannot read the streamed encoding: %v", v, err)
			}
		}
	}
}
