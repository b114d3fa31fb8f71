package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// scrape GETs a path of the broker's metrics listener.
func scrape(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sample is the value of one series in a Prometheus text exposition.
func sample(t *testing.T, text, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no series %s in /metrics", series)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestE2EMetricsAndHealth: the broker serves Prometheus metrics under the
// names Kafka dashboards use (the JMX exporter's, and kafka_exporter's
// consumer lag), and /healthz and /readyz.
func TestE2EMetricsAndHealth(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	if b.MetricsAddr == "" {
		t.Fatal("the ready line names no metrics listener")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := scrape(t, b.MetricsAddr, path); code != 200 {
			t.Fatalf("%s: %d %q", path, code, body)
		}
	}
	ctx := testContext(t, time.Minute)
	topic := topicName(t, "metered")
	adm := newAdmin(t, b.Addr)
	createTopic(t, ctx, adm, topic, 1, nil)
	recs := workload("m", 40)
	for i := range recs {
		recs[i].Partition = 0
	}
	produceKgo(t, ctx, newKgo(t, b.Addr), topic, recs, true)
	got := consumeKgo(t, ctx, b.Addr, topic)
	if len(got) != len(recs) {
		t.Fatalf("consumed %d of %d", len(got), len(recs))
	}
	// A group committed at offset 15 of 40 lags by 25.
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 15, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "metered-group", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	// An error answered (an invalid topic name), for the errors series.
	if _, err := adm.Metadata(ctx, "bad topic name"); err != nil {
		t.Logf("metadata of an invalid topic: %v", err)
	}
	_, text := scrape(t, b.MetricsAddr, "/metrics")
	lbl := fmt.Sprintf(`{topic="%s"}`, topic)
	if v := sample(t, text, "kafka_server_brokertopicmetrics_messagesin_total"+lbl); v != 40 {
		t.Errorf("messages in: %v, want 40", v)
	}
	if v := sample(t, text, "kafka_server_brokertopicmetrics_bytesin_total"+lbl); v <= 40 {
		t.Errorf("bytes in: %v", v)
	}
	if v := sample(t, text, "kafka_server_brokertopicmetrics_bytesout_total"+lbl); v <= 40 {
		t.Errorf("bytes out: %v", v)
	}
	if v := sample(t, text, fmt.Sprintf(`kafka_log_log_logendoffset{partition="0",topic="%s"}`, topic)); v != 40 {
		t.Errorf("log end offset: %v", v)
	}
	if v := sample(t, text, fmt.Sprintf(`kafka_consumergroup_lag{consumergroup="metered-group",partition="0",topic="%s"}`, topic)); v != 25 {
		t.Errorf("lag: %v, want 25", v)
	}
	if v := sample(t, text, `kafka_network_requestmetrics_requests_total{request="Produce"}`); v < 1 {
		t.Errorf("produce requests: %v", v)
	}
	for _, series := range []string{
		"kafka_server_replicamanager_underreplicatedpartitions", "kafka_controller_kafkacontroller_activecontrollercount",
		"kafka_controller_kafkacontroller_offlinepartitionscount", "kafka_server_replicamanager_partitioncount",
		"kafka_server_socketservermetrics_connection_count", "go_goroutines",
		"gregor_storage_open_segment_files_max", "gregor_storage_segment_file_evictions_total",
		"kafka_server_fetchsessioncache_numincrementalfetchsessions",
	} {
		sample(t, text, series)
	}
	if v := sample(t, text, "gregor_storage_open_segment_files"); v < 1 {
		t.Errorf("open segment files: %v, want the partitions' active segments", v)
	}
	if v := sample(t, text, "kafka_controller_kafkacontroller_activecontrollercount"); v != 1 {
		t.Errorf("a single broker is the active controller: %v", v)
	}
	if !strings.Contains(text, "kafka_network_requestmetrics_totaltime_seconds_bucket") || !strings.Contains(text, "kafka_log_logflushstats_logflushtime_seconds") {
		t.Error("latency histograms missing")
	}
	// Every series the Grafana dashboard queries exists.
	dash, err := os.ReadFile("../../deploy/grafana/gregor-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`\b(?:kafka|go|process)_[a-z_]+`).FindAllString(string(dash), -1)
	if len(names) < 15 {
		t.Fatalf("the dashboard names only %d series", len(names))
	}
	for _, n := range names {
		if !regexp.MustCompile(`(?m)^` + n + `[{ ]`).MatchString(text) {
			t.Errorf("the dashboard queries %s, which /metrics does not have", n)
		}
	}
}
