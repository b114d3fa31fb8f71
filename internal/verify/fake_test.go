package verify

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The tests here run the real workload against a broken cluster: a real
// in-process Gregor node behind a brokenProxy that misbehaves on the
// wire in one way each, and check that Check names that misbehaviour.

const finalClient = "gregor-verify-final"

// runBroken runs a short workload through a proxy with faults f and
// returns the report.
func runBroken(t *testing.T, f faults, edit func(*Config)) *Report {
	t.Helper()
	p := startProxy(t, startGregor(t), f)
	cfg := testConfig(t, p.addr())
	cfg.Duration = time.Second
	cfg.DrainTimeout = time.Second
	if edit != nil {
		edit(&cfg)
	}
	return runCheck(t, cfg)
}

// wantKinds checks that r has anomalies of each kind in want and of no
// kind outside want and also.
func wantKinds(t *testing.T, r *Report, want []string, also ...string) {
	t.Helper()
	for _, a := range r.Anomalies {
		switch {
		case contains(want, a.Kind):
			if a.Count == 0 {
				t.Errorf("no %s anomaly detected", a.Kind)
			}
		case a.Count > 0 && !contains(also, a.Kind):
			t.Errorf("unexpected %s: %d %q", a.Kind, a.Count, a.Examples)
		}
	}
	if r.OK {
		t.Errorf("report OK despite the faults")
	}
}

func TestVerifyFakeCleanThroughProxy(t *testing.T) {
	r := runBroken(t, faults{}, nil)
	if !r.OK {
		t.Fatalf("anomalies through a proxy without faults")
	}
}

// The batch of partition 0 that holds offset 10, never served to any
// reader, while later batches are: lost. (While it is the last batch the
// readers refetch it until later ones exist.)
func TestVerifyFakeLostBatch(t *testing.T) {
	r := runBroken(t, faults{fetch: func(_ string, partition int32, bs []*batch) []*batch {
		if partition != 0 {
			return bs
		}
		var out []*batch
		for _, b := range bs {
			if b.FirstOffset <= 10 && b.lastOffset() >= 10 {
				continue
			}
			out = append(out, b)
		}
		return out
	}}, nil)
	wantKinds(t, r, []string{KindLost})
}

// Partition 0 served up to offset 20 only: the rest is unseen, not lost.
func TestVerifyFakeUnseenTail(t *testing.T) {
	r := runBroken(t, faults{fetch: func(_ string, partition int32, bs []*batch) []*batch {
		if partition != 0 {
			return bs
		}
		var out []*batch
		for _, b := range bs {
			if b.lastOffset() >= 20 {
				break
			}
			out = append(out, b)
		}
		return out
	}}, nil)
	wantKinds(t, r, []string{KindUnseen})
}

// A produce request written twice by a non-idempotent producer: its
// values at two offsets each.
func TestVerifyFakeDuplicatedProduce(t *testing.T) {
	n := 0
	r := runBroken(t, faults{produce: func(client string, _ *kmsg.ProduceRequest) (bool, bool) {
		if client != "gregor-verify-p0" {
			return false, false
		}
		n++
		return n == 3, false
	}}, nil)
	wantKinds(t, r, []string{KindDuplicated})
}

// The broker wrote a produce request but the client was told
// INVALID_RECORD: failed values that readers see.
func TestVerifyFakeFailedProduceRead(t *testing.T) {
	n := 0
	r := runBroken(t, faults{produce: func(client string, _ *kmsg.ProduceRequest) (bool, bool) {
		if client != "gregor-verify-p0" {
			return false, false
		}
		n++
		return false, n == 3
	}}, nil)
	wantKinds(t, r, []string{KindAbortedRead})
	if r.Failed == 0 {
		t.Errorf("no failed sends")
	}
}

// The final read gets another value at one offset of partition 1 than
// the consumers and the acknowledgement: inconsistent offsets.
func TestVerifyFakeInconsistentFinalRead(t *testing.T) {
	changed := int64(-1)
	r := runBroken(t, faults{fetch: func(client string, partition int32, bs []*batch) []*batch {
		if client != finalClient || partition != 1 {
			return bs
		}
		for _, b := range bs {
			for i := range b.records {
				off := b.offset(i)
				if changed < 0 && off >= 5 {
					changed = off
				}
				if off == changed {
					b.records[i].Value = append([]byte("xx"), b.records[i].Value[2:]...)
				}
			}
		}
		return bs
	}}, nil)
	wantKinds(t, r, []string{KindInconsistent})
}

// The final read gets two values of one producer in partition 2 swapped:
// reordered (and, since the consumers saw them the other way, each value
// at two offsets and two offsets with two values).
func TestVerifyFakeReorderedFinalRead(t *testing.T) {
	var first, second int64 = -1, -1
	var firstValue, secondValue []byte
	r := runBroken(t, faults{fetch: func(client string, partition int32, bs []*batch) []*batch {
		if client != finalClient || partition != 2 {
			return bs
		}
		for _, b := range bs {
			for i := range b.records {
				off, v := b.offset(i), b.records[i].Value
				switch {
				case first < 0 && off >= 5:
					first, firstValue = off, bytes.Clone(v)
				case second < 0 && first >= 0 && off > first && sameProducer(v, firstValue):
					second, secondValue = off, bytes.Clone(v)
				}
			}
		}
		if second < 0 {
			return bs
		}
		for _, b := range bs {
			for i := range b.records {
				switch b.offset(i) {
				case first:
					b.records[i].Value = secondValue
				case second:
					b.records[i].Value = firstValue
				}
			}
		}
		return bs
	}}, nil)
	wantKinds(t, r, []string{KindReordered}, KindInconsistent, KindDuplicated)
}

// sameProducer compares the "RUN-pN-" prefixes of two values.
func sameProducer(a, b []byte) bool {
	i, j := bytes.LastIndexByte(a, '-'), bytes.LastIndexByte(b, '-')
	return i > 0 && i == j && bytes.Equal(a[:i], b[:j])
}

// The group's committed offset of partition 0, as the observer fetches
// it, falls back to 0 after it was first seen above 0.
func TestVerifyFakeCommitBackwards(t *testing.T) {
	seen := false
	lower := func(topics []kmsg.OffsetFetchResponseTopic) {
		for i := range topics {
			for j := range topics[i].Partitions {
				p := &topics[i].Partitions[j]
				if p.Partition != 0 || p.Offset <= 0 {
					continue
				}
				if seen {
					p.Offset = 0
				}
				seen = true
			}
		}
	}
	r := runBroken(t, faults{offsetFetch: func(client string, resp *kmsg.OffsetFetchResponse) {
		if !strings.HasSuffix(client, "-admin") {
			return
		}
		lower(resp.Topics)
		for i := range resp.Groups {
			topics := make([]kmsg.OffsetFetchResponseTopic, 0, len(resp.Groups[i].Topics))
			for _, gt := range resp.Groups[i].Topics {
				t := kmsg.OffsetFetchResponseTopic{Topic: gt.Topic}
				for _, gp := range gt.Partitions {
					t.Partitions = append(t.Partitions, kmsg.OffsetFetchResponseTopicPartition{Partition: gp.Partition, Offset: gp.Offset})
				}
				topics = append(topics, t)
			}
			lower(topics)
			for ti := range topics {
				for pi := range topics[ti].Partitions {
					resp.Groups[i].Topics[ti].Partitions[pi].Offset = topics[ti].Partitions[pi].Offset
				}
			}
		}
	}}, nil)
	wantKinds(t, r, []string{KindCommitBackwards})
}
