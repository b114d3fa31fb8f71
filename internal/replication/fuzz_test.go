package replication

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/storage"
	"github.com/gregor-dev/gregor/internal/storagetest"
)

// storageReplica is a Replica on a real storage.Log, so that what the
// fetcher hands on meets the log's own checks (AppendAssigned: framing,
// CRC, offsets increasing from the LEO). The leader's high watermark and
// log start offset, which only the partition keeps, are ignored.
type storageReplica struct{ *storage.Log }

func (r storageReplica) LogEndOffset() int64   { return r.EndOffset() }
func (r storageReplica) LogStartOffset() int64 { return r.StartOffset() }
func (r storageReplica) AppendReplica(batches []byte, _, _ int64) error {
	return r.AppendAssigned(batches)
}

// fuzzResponse returns an empty response of the kind which picks, at the
// version the fetcher sends.
func fuzzResponse(which int) kmsg.Response {
	var r kmsg.Response
	switch which {
	case 0:
		r = kmsg.NewPtrFetchResponse()
		r.SetVersion(fetchVersion)
	case 1:
		r = kmsg.NewPtrOffsetForLeaderEpochResponse()
		r.SetVersion(offsetForLeaderEpochVersion)
	default:
		r = kmsg.NewPtrListOffsetsResponse()
		r.SetVersion(listOffsetsVersion)
	}
	return r
}

// FuzzReplicationResponses decodes arbitrary bytes as the leader's answer
// to a follower's Fetch, OffsetForLeaderEpoch or ListOffsets (the versions
// the fetcher sends) and applies it as the fetcher does, to a follower of
// partition t-0 on a real log of three batches (epochs 1, 1, 2). Nothing
// may panic, and afterwards the log must hold a prefix of its batches
// (truncation) followed only by whole batches of the Fetch answer's
// records, byte for byte, each passing its CRC, their offsets increasing
// without overlap.
func FuzzReplicationResponses(f *testing.F) {
	var orig [][]byte
	for _, b := range []struct {
		base  int64
		epoch int32
		n     int
	}{{0, 1, 2}, {2, 1, 3}, {5, 2, 1}} {
		orig = append(orig, makeBatch(b.base, b.epoch, b.n))
	}
	fetch := kmsg.NewPtrFetchResponse()
	fetch.SetVersion(fetchVersion)
	ft := kmsg.NewFetchResponseTopic()
	ft.Topic = "t"
	fp := kmsg.NewFetchResponseTopicPartition()
	fp.HighWatermark = 9
	fp.RecordBatches = append(makeBatch(6, 2, 2), makeBatch(8, 3, 1)...)
	fp.RecordBatches = append(fp.RecordBatches, makeBatch(9, 3, 1)[:30]...) // cut short
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	f.Add(uint8(0), fetch.AppendTo(nil))

	epochs := kmsg.NewPtrOffsetForLeaderEpochResponse()
	epochs.SetVersion(offsetForLeaderEpochVersion)
	et := kmsg.NewOffsetForLeaderEpochResponseTopic()
	et.Topic = "t"
	ep := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
	ep.LeaderEpoch, ep.EndOffset = 1, 4
	et.Partitions = append(et.Partitions, ep)
	epochs.Topics = append(epochs.Topics, et)
	f.Add(uint8(1), epochs.AppendTo(nil))

	list := kmsg.NewPtrListOffsetsResponse()
	list.SetVersion(listOffsetsVersion)
	lt := kmsg.NewListOffsetsResponseTopic()
	lt.Topic = "t"
	lp := kmsg.NewListOffsetsResponseTopicPartition()
	lp.Offset = 3
	lt.Partitions = append(lt.Partitions, lp)
	list.Topics = append(list.Topics, lt)
	f.Add(uint8(2), list.AppendTo(nil))
	f.Add(uint8(5), list.AppendTo(nil)) // as the answer for the log start

	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		resp := fuzzResponse(int(which) % 3)
		if err := resp.ReadFrom(body); err != nil {
			return
		}
		l, err := storage.Open(storagetest.NewCrashableMem(), "p", storage.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for _, b := range orig {
			if err := l.AppendAssigned(b); err != nil {
				t.Fatal(err)
			}
		}
		o := Options{Logger: quiet}
		o.defaults()
		fetcher := &fetcher{m: &Manager{o: o}, leader: 1, ctx: context.Background(), log: quiet}
		fl := newFollower(tp{"t", 0}, storageReplica{l}, 1, 3)
		var appended []byte // what an applied Fetch answer offered
		switch r := resp.(type) {
		case *kmsg.FetchResponse:
			fl.setState(stateFetch)
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					if t.Topic == "t" && p.Partition == 0 {
						appended = append(appended, p.RecordBatches...)
					}
				}
			}
			fetcher.applyFetchResponse(r, map[tp]*follower{fl.tp: fl})
		case *kmsg.OffsetForLeaderEpochResponse:
			latest, _ := l.LatestEpoch()
			fetcher.applyEpochResponse(r, map[tp]askedEpoch{fl.tp: {fl, latest}})
		case *kmsg.ListOffsetsResponse:
			if which&4 != 0 {
				fl.setState(stateListEarliest)
			} else {
				fl.setState(stateListLatest)
			}
			fetcher.applyListOffsetsResponse(r, map[tp]*follower{fl.tp: fl})
		}
		checkReplicaLog(t, l, orig, appended)
	})
}

// checkReplicaLog checks that l holds a prefix of orig and then only
// whole batches that appear in offered, all valid and in increasing,
// non-overlapping offsets.
func checkReplicaLog(t *testing.T, l *storage.Log, orig [][]byte, offered []byte) {
	t.Helper()
	next := l.StartOffset()
	prefix := true
	for n := 0; next < l.EndOffset(); {
		res, err := l.Read(next, math.MaxInt32, math.MaxInt64, true)
		if err != nil || res.Slice.Size == 0 {
			t.Fatalf("Read(%d) below LEO %d: %v", next, l.EndOffset(), err)
		}
		buf, err := res.Slice.ReadInto(nil)
		if err != nil {
			t.Fatal(err)
		}
		for len(buf) > 0 {
			h, b, rest, err := record.Next(buf)
			if err != nil {
				t.Fatalf("batch %d: %v", n, err)
			}
			if err := record.CheckCRC(b); err != nil {
				t.Fatalf("batch %d at %d: %v", n, h.BaseOffset, err)
			}
			if h.BaseOffset < next && n > 0 {
				t.Fatalf("batch %d at %d overlaps the one before, ending at %d", n, h.BaseOffset, next)
			}
			if prefix && (n >= len(orig) || !bytes.Equal(b, orig[n])) {
				prefix = false
			}
			if !prefix && !bytes.Contains(offered, b) {
				t.Fatalf("batch %d at %d is neither the log's own nor one the leader sent", n, h.BaseOffset)
			}
			next, buf = h.NextOffset(), rest
			n++
		}
	}
	if next != l.EndOffset() {
		t.Fatalf("batches end at %d, LEO %d", next, l.EndOffset())
	}
}
