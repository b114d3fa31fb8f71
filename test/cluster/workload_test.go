package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// ack is one acknowledged record: its sequence number in its partition,
// the offset the broker gave it, and when the client saw the ack.
type ack struct {
	seq    int64
	offset int64
	at     time.Time
}

// seqProducer writes records continuously with an idempotent acks=all
// franz-go producer: to each partition p in turn, key "p<p>", value the
// next sequence number of p (0, 1, 2 ...). It records every ack and
// failure, so that the log can be checked against them afterwards.
type seqProducer struct {
	t     *testing.T
	c     *cluster
	cl    *kgo.Client
	topic string
	parts int32

	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex // guards the fields below
	next   []int64    // per partition: the next sequence number to send
	acks   [][]ack    // per partition, in ack order
	fails  []int      // per partition: records that failed
	errs   []string   // the first failures, for the report
	notify chan struct{}
}

const (
	produceInterval = 3 * time.Millisecond // one record per partition per tick
	deliveryTimeout = 20 * time.Second     // retries before a record fails
)

// startProducer starts a seqProducer on topic's partitions 0..parts-1; it
// runs until stop.
func startProducer(t *testing.T, c *cluster, topic string, parts int32, opts ...kgo.Opt) *seqProducer {
	t.Helper()
	base := []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.ProduceRequestTimeout(5 * time.Second),
		kgo.RecordDeliveryTimeout(deliveryTimeout),
		kgo.MaxBufferedRecords(2000),
	}
	p := &seqProducer{
		t:      t,
		c:      c,
		cl:     c.client("producer", append(base, opts...)...),
		topic:  topic,
		parts:  parts,
		done:   make(chan struct{}),
		next:   make([]int64, parts),
		acks:   make([][]ack, parts),
		fails:  make([]int, parts),
		notify: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	t.Cleanup(func() { p.halt(2 * time.Second) }) // after a failure: do not wait long
	go p.run(ctx)
	return p
}

func (p *seqProducer) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(produceInterval)
	defer tick.Stop()
	for {
		for part := range p.parts {
			p.mu.Lock()
			seq := p.next[part]
			p.next[part]++
			p.mu.Unlock()
			r := &kgo.Record{
				Partition: part,
				Key:       []byte("p" + strconv.Itoa(int(part))),
				Value:     []byte(strconv.FormatInt(seq, 10)),
			}
			p.cl.Produce(ctx, r, p.onAck)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *seqProducer) onAck(r *kgo.Record, err error) {
	now := time.Now()
	seq, _ := strconv.ParseInt(string(r.Value), 10, 64)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.fails[r.Partition]++
		if len(p.errs) < 10 && !errors.Is(err, context.Canceled) {
			p.errs = append(p.errs, fmt.Sprintf("p%d seq %d at %s: %v", r.Partition, seq, now.Format("15:04:05.000"), err))
		}
		return
	}
	p.acks[r.Partition] = append(p.acks[r.Partition], ack{seq: seq, offset: r.Offset, at: now})
	close(p.notify)
	p.notify = make(chan struct{})
}

// waitAcks waits until partition part has n more acks than it had when
// waitAcks was called.
func (p *seqProducer) waitAcks(part int32, n int, timeout time.Duration) {
	p.t.Helper()
	p.mu.Lock()
	want := len(p.acks[part]) + n
	p.mu.Unlock()
	p.waitFor(timeout, fmt.Sprintf("%d more acks on partition %d", n, part), func() bool {
		return len(p.acks[part]) >= want
	})
}

// waitAllAcks is waitAcks on every partition.
func (p *seqProducer) waitAllAcks(n int, timeout time.Duration) {
	p.t.Helper()
	for part := range p.parts {
		p.waitAcks(part, n, timeout)
	}
}

// waitAckAfter waits for the first ack on partition part seen at or after
// t0 and returns it.
func (p *seqProducer) waitAckAfter(part int32, t0 time.Time, timeout time.Duration) ack {
	p.t.Helper()
	var found ack
	p.waitFor(timeout, fmt.Sprintf("an ack on partition %d after %s", part, t0.Format("15:04:05.000")), func() bool {
		i, _ := slices.BinarySearchFunc(p.acks[part], t0, func(a ack, t time.Time) int { return a.at.Compare(t) })
		if i < len(p.acks[part]) {
			found = p.acks[part][i]
			return true
		}
		return false
	})
	return found
}

// waitFor waits until cond (called with p.mu held) is true.
func (p *seqProducer) waitFor(timeout time.Duration, what string, cond func() bool) {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok, notify := cond(), p.notify
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-notify:
		case <-deadline.C:
			p.mu.Lock()
			errs := slices.Clone(p.errs)
			p.mu.Unlock()
			p.t.Fatalf("waiting for %s: none within %v (failures so far: %v)", what, timeout, errs)
		}
	}
}

// maxGap is the longest time between consecutive acks on partition part
// (a measure of unavailability), and when it began.
func (p *seqProducer) maxGap(part int32) (gap time.Duration, from time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	acks := p.acks[part]
	for i := 1; i < len(acks); i++ {
		if d := acks[i].at.Sub(acks[i-1].at); d > gap {
			gap, from = d, acks[i-1].at
		}
	}
	return gap, from
}

// halt stops producing and waits up to wait for the records in flight.
func (p *seqProducer) halt(wait time.Duration) {
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_ = p.cl.Flush(ctx)
}

// stop stops producing, waits for every record to be acked or failed, and
// reports the totals.
func (p *seqProducer) stop() {
	p.t.Helper()
	p.halt(deliveryTimeout + 5*time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	for part := range p.parts {
		p.t.Logf("partition %d: %d sent, %d acked, %d failed", part, p.next[part], len(p.acks[part]), p.fails[part])
	}
	for _, e := range p.errs {
		p.t.Logf("produce failure: %s", e)
	}
}

// failures is the number of records that failed, on all partitions.
func (p *seqProducer) failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, f := range p.fails {
		n += f
	}
	return n
}

// verify consumes every partition from the start to its high watermark
// and checks the log against the acks: every acknowledged record is there
// exactly once, at the offset it was acknowledged with, and acknowledged
// records appear in sequence order.
func (p *seqProducer) verify() {
	p.t.Helper()
	logs := consumeAll(p.t, p.c, p.topic, p.parts)
	p.mu.Lock()
	defer p.mu.Unlock()
	for part := range p.parts {
		problems, _, unackedDup := checkPartitionLog(logs[part], p.acks[part], false)
		p.t.Logf("partition %d: log has %d records, %d acked; %d copies of unacked records are duplicates",
			part, len(logs[part]), len(p.acks[part]), unackedDup)
		if len(problems) > 0 {
			p.t.Errorf("partition %d: %d problems:\n%s", part, len(problems), strings.Join(problems, "\n"))
		}
	}
}

// logRecord is a record read back: its offset and sequence number.
type logRecord struct {
	offset int64
	seq    int64
	value  string
}

// consumeAll reads partitions 0..parts-1 of topic from the log start to
// the high watermark.
func consumeAll(t *testing.T, c *cluster, topic string, parts int32) [][]logRecord {
	t.Helper()
	adm := c.admin()
	var ends kadm.ListedOffsets
	checkFor(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		ends, err = adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		return err
	})
	starts := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition -> high watermark still to reach
	for part := range parts {
		lo, ok := ends.Lookup(topic, part)
		if !ok {
			t.Fatalf("no end offset for %s/%d", topic, part)
		}
		starts[part] = kgo.NewOffset().AtStart()
		if lo.Offset > 0 {
			remaining[part] = lo.Offset
		}
	}
	out := make([][]logRecord, parts)
	if len(remaining) == 0 {
		return out
	}
	cl := c.client("verify-consumer",
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lastErr error
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: partitions %v not read to their end within 30s (last error %v)", topic, remaining, lastErr)
		}
		fs.EachError(func(_ string, _ int32, err error) { lastErr = err })
		fs.EachRecord(func(r *kgo.Record) {
			seq, _ := strconv.ParseInt(string(r.Value), 10, 64)
			out[r.Partition] = append(out[r.Partition], logRecord{offset: r.Offset, seq: seq, value: string(r.Value)})
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return out
}

// produceEach writes one record with value to each partition of topic
// with a fresh acks=all client, failing the test if any is not
// acknowledged within timeout.
func produceEach(t *testing.T, c *cluster, value, topic string, parts int32, timeout time.Duration, seeds []string) {
	t.Helper()
	opts := []kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(timeout),
	}
	if seeds != nil {
		opts = append(opts, kgo.SeedBrokers(seeds...))
	}
	cl := c.client("produce-"+value, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for part := range parts {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: part, Value: []byte(value)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %q to %s: %v", value, topic, err)
	}
	cl.Close()
}

// rawProduce sends one acks=-1 Produce request with a single record
// (non-idempotent) for topic/part straight to broker, and returns the
// partition's error code, or the request's error (a timeout included:
// the request waits at most timeoutMillis on the broker, plus 5 s).
func rawProduce(broker *kgo.Broker, topic string, topicID [16]byte, part int32, value string, timeoutMillis int32) (int16, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMillis)*time.Millisecond+5*time.Second)
	defer cancel()
	batch := recordtest.Batch{ProducerID: -1, BaseSequence: -1,
		Records: []recordtest.Record{{Value: []byte(value), Timestamp: time.Now().UnixMilli()}}}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = timeoutMillis
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.TopicID = topicID // Produce v13 names topics by id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = part
	rp.Records = batch.Encode()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := broker.Request(ctx, req)
	if err != nil {
		return 0, err
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("malformed produce response %+v", pr)
	}
	return pr.Topics[0].Partitions[0].ErrorCode, nil
}
