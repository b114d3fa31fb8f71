package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ombBroker is a broker whose groups rebalance at once (Kafka waits 3 s
// for more members before a new group's first rebalance).
func ombBroker(t *testing.T) string {
	return startBroker(t, "group.initial.rebalance.delay.ms=0")
}

func ombConfig(t *testing.T, addr, workload string, o OMBOverrides) OMBConfig {
	t.Helper()
	w, err := ParseOMBWorkload([]byte(workload))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := w.Plan(o)
	if err != nil {
		t.Fatal(err)
	}
	c := testCommon(t, addr, "")
	return OMBConfig{ProduceConfig: ProduceConfig{Common: c, Acks: AcksAll, Idempotent: true, Linger: time.Millisecond}, Plan: *plan}
}

// checkSubscriptions asserts every subscription received each record its
// topic's producers acknowledged exactly once.
func checkSubscriptions(t *testing.T, res *Result, subscriptions int, perTopic int64) {
	t.Helper()
	o := res.OMB
	if len(o.Subscriptions) != subscriptions {
		t.Fatalf("%d subscriptions, want %d", len(o.Subscriptions), subscriptions)
	}
	var produced int64
	topics := make(map[string]int64)
	for _, s := range o.Subscriptions {
		if (perTopic > 0 && s.Produced != perTopic) || s.Produced == 0 || s.Received != s.Produced || s.Unique != s.Produced ||
			s.Duplicates != 0 || s.Missing != 0 {
			t.Errorf("subscription %+v: want every one of %d records once", s, perTopic)
		}
		topics[s.Topic] = s.Produced
	}
	for _, n := range topics {
		produced += n
	}
	if *res.ProducedRecords != produced || *res.ConsumedRecords != int64(subscriptions/len(topics))*produced ||
		o.Duplicates != 0 || o.Missing != 0 {
		t.Fatalf("produced %d, consumed %d, duplicates %d, missing %d; want %d produced, each consumed once per subscription",
			*res.ProducedRecords, *res.ConsumedRecords, o.Duplicates, o.Missing, produced)
	}
}

func logResult(t *testing.T, res *Result) {
	if res != nil {
		var b strings.Builder
		res.WriteTable(&b)
		t.Log(b.String())
	}
}

func TestBenchOMBRun(t *testing.T) {
	addr := ombBroker(t)
	cfg := ombConfig(t, addr, `
name: tiny
topics: 2
partitionsPerTopic: 3
messageSize: 256
keyDistributor: KEY_ROUND_ROBIN
subscriptionsPerTopic: 2
consumerPerSubscription: 2
producersPerTopic: 2
producerRate: 2000
consumerBacklogSizeGB: 0
testDurationMinutes: 5
`, OMBOverrides{Duration: time.Second, Warmup: 250 * time.Millisecond, WarmupSet: true})
	res, err := RunOMB(testCtx(t), cfg)
	logResult(t, res)
	if err != nil || res.StoppedEarly != "" || res.Errors != 0 {
		t.Fatalf("run: %v; stopped %q, errors %d %v", err, res.StoppedEarly, res.Errors, res.ErrorKinds)
	}
	// 1000 records/s per topic: 250 warm-up and 1000 measured each.
	checkSubscriptions(t, res, 4, 1250)
	if res.Records != 2000 || res.Bytes != 2000*256 || res.RecordsPerS <= 0 || res.MBPerS <= 0 {
		t.Fatalf("publish: %d records, %d bytes, %g records/s, %g MiB/s", res.Records, res.Bytes, res.RecordsPerS, res.MBPerS)
	}
	o := res.OMB
	// Every measured record reached both subscriptions of its topic.
	if o.ConsumeRecordsPerS <= 0 || o.ConsumeMBPerS <= 0 || o.ConsumeRecords < 4000 || o.Backlog != nil {
		t.Fatalf("consume: %d records, %g records/s, %g MiB/s, backlog %+v", o.ConsumeRecords, o.ConsumeRecordsPerS, o.ConsumeMBPerS, o.Backlog)
	}
	checkLatency(t, "publish", res.Latency, 2000)
	checkLatency(t, "end-to-end", res.E2ELatency, 4000)

	// The run's topics are gone.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tds, err := kadm.NewClient(cl).ListTopics(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range o.Topics {
		if tds.Has(topic) {
			t.Errorf("topic %s left behind", topic)
		}
	}
}

func TestBenchOMBBacklog(t *testing.T) {
	addr := ombBroker(t)
	// 0.001 GiB of 100-byte messages is 10,738 records; two subscriptions
	// make it grow by 8000 a second at 4000 msg/s.
	cfg := ombConfig(t, addr, `
name: tiny backlog
topics: 1
partitionsPerTopic: 2
messageSize: 100
subscriptionsPerTopic: 2
consumerPerSubscription: 1
producersPerTopic: 1
producerRate: 4000
consumerBacklogSizeGB: 0.001
testDurationMinutes: 5
`, OMBOverrides{Duration: 300 * time.Millisecond, Warmup: 200 * time.Millisecond, WarmupSet: true})
	res, err := RunOMB(testCtx(t), cfg)
	logResult(t, res)
	if err != nil || res.StoppedEarly != "" || res.Errors != 0 {
		t.Fatalf("run: %v; stopped %q, errors %d %v", err, res.StoppedEarly, res.Errors, res.ErrorKinds)
	}
	b := res.OMB.Backlog
	if b == nil || b.TargetRecords != 10738 || b.RecordsAtResume < b.TargetRecords || b.BuildS < 1 ||
		!b.Drained || b.DrainedLevel != 1000 || b.DrainRecordsPerS <= 0 {
		t.Fatalf("backlog %+v: want %d records built over more than a second before the consumers resumed, then drained",
			b, 10738)
	}
	// The producers went on through warm-up, build, drain and 300 ms more.
	want := int64(4000 * (0.2 + b.BuildS + b.DrainS + 0.3))
	if p := *res.ProducedRecords; p < want-100 || p > want+1000 {
		t.Errorf("produced %d, want about %d (4000/s for %.2f s)", p, want, float64(want)/4000)
	}
	checkSubscriptions(t, res, 2, 0)
	checkLatency(t, "publish", res.Latency, res.Records)
	checkLatency(t, "end-to-end", res.E2ELatency, 2*res.Records)
}
