package bench

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBenchResultThroughput(t *testing.T) {
	var r Result
	r.setThroughput(4096, 4096*1024, 2*time.Second)
	if r.RecordsPerS != 2048 || r.MBPerS != 2 || r.DurationS != 2 {
		t.Fatalf("records/s %g MiB/s %g duration %g; want 2048, 2, 2", r.RecordsPerS, r.MBPerS, r.DurationS)
	}
	var zero Result
	zero.setThroughput(0, 0, 0)
	if zero.RecordsPerS != 0 || math.IsNaN(zero.MBPerS) {
		t.Fatalf("empty run rates %g %g, want 0", zero.RecordsPerS, zero.MBPerS)
	}
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestBenchResultJSONShape(t *testing.T) {
	cfg := ProduceConfig{Common: Common{Brokers: []string{"b:1"}, Topic: "t", Records: 10}, Acks: AcksAll}
	r := &Result{Workload: "e2e", Config: cfg}
	r.setThroughput(10, 10240, time.Second)
	r.Latency = &LatencySummary{Count: 10, P50: 1, P99: 2, P999: 3, Max: 4}
	r.E2ELatency = &LatencySummary{Count: 10, P50: 5, P99: 6, P999: 7, Max: 8}
	produced, consumed := int64(10), int64(10)
	r.ProducedRecords, r.ConsumedRecords = &produced, &consumed
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, buf.String())
	}
	want := []string{"bytes", "config", "consumed_records", "duration_s", "e2e_latency_us", "errors",
		"latency_us", "mb_per_s", "mb_unit", "produced_records", "records", "records_per_s", "workload"}
	if ks := keysOf(got); !slices.Equal(ks, want) {
		t.Fatalf("keys %v, want %v", ks, want)
	}
	for _, k := range []string{"latency_us", "e2e_latency_us"} {
		lat := got[k].(map[string]any)
		if ks := keysOf(lat); !slices.Equal(ks, []string{"count", "max", "p50", "p99", "p999"}) {
			t.Fatalf("%s keys %v", k, ks)
		}
	}
	if got["latency_us"].(map[string]any)["p999"] != 3.0 || got["e2e_latency_us"].(map[string]any)["max"] != 8.0 {
		t.Fatalf("latency values lost: %s", buf.String())
	}
	conf := got["config"].(map[string]any)
	if conf["acks"] != "all" || conf["topic"] != "t" || conf["records"] != 10.0 {
		t.Fatalf("config %v", conf)
	}
	for _, hidden := range []string{"Logger", "Clock", "ProgressOut"} {
		if _, ok := conf[hidden]; ok {
			t.Fatalf("config has %s", hidden)
		}
	}

	// A consume result has no latency objects.
	c := &Result{Workload: "consume"}
	buf.Reset()
	c.WriteJSON(&buf)
	if strings.Contains(buf.String(), "latency_us") {
		t.Fatalf("consume summary has latency: %s", buf.String())
	}
}

func TestBenchResultTable(t *testing.T) {
	r := &Result{Workload: "produce", Setup: "topic t", Errors: 3, ErrorKinds: map[string]int64{"produce: boom": 3}}
	r.setThroughput(2048, 2<<20, time.Second)
	r.Latency = &LatencySummary{Count: 2048, P50: 100, P99: 900, P999: 1500, Max: 2000}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"2048 records/s", "2.00 MiB/s", "MiB = 2^20 bytes", "errors      3", "3 × produce: boom", "produce ack", "1500"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchErrorLogCountsAllLogsOnce(t *testing.T) {
	var logs bytes.Buffer
	e := newErrorLog("produce", slog.New(slog.NewTextHandler(&logs, nil)))
	for range 5 {
		e.add(errString("timeout"))
	}
	e.add(errString("refused"))
	if e.count() != 6 {
		t.Fatalf("count %d, want 6", e.count())
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Fatalf("%d log lines, want 2 (one per distinct error):\n%s", n, logs.String())
	}
	k := e.kinds()
	if k["produce: timeout"] != 5 || k["produce: refused"] != 1 {
		t.Fatalf("kinds %v", k)
	}
	var r Result
	r.addErrors(e, newErrorLog("fetch", slog.Default()))
	if r.Errors != 6 || len(r.ErrorKinds) != 2 {
		t.Fatalf("result errors %d kinds %v", r.Errors, r.ErrorKinds)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestBenchProgressLine(t *testing.T) {
	clock := newFakeClock()
	start := clock.now
	h := NewHistogram()
	p := &progress{clock: clock, start: start, warmupEnd: start.Add(time.Second),
		lats: []progressLine{{"ack", h}, {"e2e", NewHistogram()}}}
	line := p.format(start.Add(500*time.Millisecond), 1000, 0.98)
	for _, want := range []string{"0.5s", "1000 records/s", "0.98 MiB/s", "ack p99 -", "e2e p99 -", "(warm-up)"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	h.Record(1234 * time.Microsecond)
	line = p.format(start.Add(2*time.Second), 1, 1)
	if !strings.Contains(line, "ack p99 1.23ms") || strings.Contains(line, "warm-up") {
		t.Errorf("line %q: want ack p99 1.23ms and no warm-up tag", line)
	}
}
