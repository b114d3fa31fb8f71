package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaSample is Apache Kafka 4.x's single-node sample server.properties,
// as the config package's tests have it.
const kafkaSample = "../../internal/config/testdata/kafka-server.properties"

// writeKafkaSample writes the Kafka sample with the given keys' values
// replaced, and returns its path.
func writeKafkaSample(t *testing.T, values map[string]string) string {
	t.Helper()
	data, err := os.ReadFile(kafkaSample)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			if v, ok := values[k]; ok {
				lines[i] = k + "=" + v
				delete(values, k)
			}
		}
	}
	if len(values) != 0 {
		t.Fatalf("the sample does not set %v", values)
	}
	p := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestE2EKafkaSampleConfig: Kafka's own sample server.properties, its ports
// made ephemeral and its log.dirs a temporary directory, starts a working
// broker (a one-voter quorum on its controller listener, found through
// controller.quorum.bootstrap.servers), which logs once the keys it
// accepts without effect.
func TestE2EKafkaSampleConfig(t *testing.T) {
	t.Parallel()
	file := writeKafkaSample(t, map[string]string{
		"listeners":                           "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
		"advertised.listeners":                "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
		"controller.quorum.bootstrap.servers": "127.0.0.1:0",
		"log.dirs":                            t.TempDir(),
	})
	b := startBroker(t, withArgs("--config", file))
	log := b.logs.String()
	if n := strings.Count(log, "accepted without effect"); n != 1 ||
		!strings.Contains(log, "num.network.threads") || !strings.Contains(log, "transaction.state.log.min.isr") {
		t.Errorf("want one warning naming the keys without effect (%d):\n%s", n, log)
	}
	ctx := testContext(t, time.Minute)
	topic := topicName(t, "")
	// The client bootstraps from the bound address, then uses the
	// advertised one: port 0 in advertised.listeners is the bound port.
	prod := newKgo(t, b.Addr, kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("from kafka's sample")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons := newKgo(t, b.Addr,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if r := pollKgoUntilRecords(t, ctx, cons, topic, 1)[0]; string(r.Value) != "from kafka's sample" {
		t.Errorf("read %q", r.Value)
	}
	b.Stop()
}

// TestE2ECLIConfigErrorsNameTheirSource: a value given by a dedicated flag
// is reported as coming from that flag, and every unknown key of every
// source is reported at once, with the key meant.
func TestE2ECLIConfigErrorsNameTheirSource(t *testing.T) {
	t.Parallel()
	out := startupFailure(t, nil, "serve", "--data-dir", t.TempDir(), "--listen", "9092")
	if !strings.Contains(out, `listeners: invalid value "9092"`) || !strings.Contains(out, "(--listen)") || strings.Contains(out, "--set") {
		t.Errorf("--listen 9092: the error does not name --listen:\n%s", out)
	}

	file := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(file, []byte("num.partiton=2\nlog.retention.hour=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = startupFailure(t, nil, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--config", file, "--set", "auto.create.topic.enable=false")
	for _, want := range []string{
		`"num.partiton" (` + file + `:1); did you mean "num.partitions"?`,
		`"log.retention.hour" (` + file + `:2); did you mean "log.retention.hours"?`,
		`"auto.create.topic.enable" (--set); did you mean "auto.create.topics.enable"?`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the start-up error lacks %q:\n%s", want, out)
		}
	}

	out = startupFailure(t, nil, "serve", "--data-dir", t.TempDir(), "--listen", "SSL://127.0.0.1:0")
	if !strings.Contains(out, "SSL listeners are not supported yet") {
		t.Errorf("SSL listener: %s", out)
	}
}

// TestE2ECLIVersion: gregor --version prints the version and commit.
func TestE2ECLIVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(gregorBin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gregor ") || !strings.Contains(string(out), "commit ") {
		t.Errorf("gregor --version: %v: %q", err, out)
	}
}
