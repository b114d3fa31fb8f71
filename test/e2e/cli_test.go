package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startupFailure runs gregor with args and extra environment, expecting it
// to exit non-zero before it is ready; it returns the combined output.
func startupFailure(t *testing.T, env []string, args ...string) string {
	t.Helper()
	if err := statSourcesOnce(); err != nil {
		t.Fatalf("stat module sources: %v", err)
	}
	ctx := testContext(t, readyTimeout)
	cmd := exec.CommandContext(ctx, gregorBin, args...)
	cmd.Env = brokerEnv(env)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("gregor %v (env %v) was still running after %v; output:\n%s", args, env, readyTimeout, out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("gregor %v (env %v): want a non-zero exit, got %v; output:\n%s", args, env, err, out)
	}
	if strings.Contains(string(out), `msg="broker ready"`) {
		t.Errorf("gregor %v (env %v) said it was ready before failing:\n%s", args, env, out)
	}
	return string(out)
}

// TestE2ECLIRejectsBadConfig: an unknown key or a bad value stops start-up
// with a message naming the key, whichever source it comes from.
func TestE2ECLIRejectsBadConfig(t *testing.T) {
	t.Parallel()
	confFile := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(confFile, []byte("# comment\nlog.segment.bytes=not-a-number\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown --set key", nil, []string{"--set", "no.such.key=1"}, "no.such.key"},
		{"bad --set value", nil, []string{"--set", "num.partitions=many"}, "num.partitions"},
		{"bad environment value", []string{"GREGOR_NUM_PARTITIONS=zero"}, nil, "num.partitions"},
		{"bad config file value", nil, []string{"--config", confFile}, "log.segment.bytes"},
	}
	for _, c := range cases {
		args := append([]string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, c.args...)
		out := startupFailure(t, c.env, args...)
		if !strings.Contains(out, c.want) {
			t.Errorf("%s: the start-up error does not name %q:\n%s", c.name, c.want, out)
		}
	}
}

// autoCreatedPartitions asks Metadata to auto-create topic and returns its
// partition count.
func autoCreatedPartitions(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) int {
	t.Helper()
	var n int
	checkFor(t, 10*time.Second, func() error {
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		if len(resp.Topics) != 1 {
			return fmt.Errorf("metadata has %d topics, want 1", len(resp.Topics))
		}
		if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
			return fmt.Errorf("auto-creating %s: %w", topic, err)
		}
		n = len(resp.Topics[0].Partitions)
		if n == 0 {
			return fmt.Errorf("auto-created %s has no partitions yet", topic)
		}
		return nil
	})
	return n
}

// TestE2ECLIIgnoresUnknownEnvironment: GREGOR_* variables that name no key
// (Kubernetes injects GREGOR_PORT, GREGOR_SERVICE_HOST... for a service
// named gregor) are logged as a warning and ignored, not fatal.
func TestE2ECLIIgnoresUnknownEnvironment(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withEnv("GREGOR_PORT=tcp://10.0.0.1:9092", "GREGOR_SERVICE_HOST=10.0.0.1", "GREGOR_NUM_PARTITIONS=2"))
	log := b.logs.String()
	if !strings.Contains(log, "ignoring environment variables") || !strings.Contains(log, "GREGOR_PORT,GREGOR_SERVICE_HOST") {
		t.Fatalf("no warning naming the ignored variables:\n%s", log)
	}
	ctx := testContext(t, 30*time.Second)
	if n := autoCreatedPartitions(t, ctx, newKgo(t, b.Addr), topicName(t, "env")); n != 2 {
		t.Fatalf("GREGOR_NUM_PARTITIONS=2 beside unknown variables: %d partitions", n)
	}
	b.Stop()
}

// TestE2ECLIConfigPrecedence: defaults < --config file < GREGOR_* variables
// < --set, observed through num.partitions of auto-created topics.
func TestE2ECLIConfigPrecedence(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, time.Minute)
	confFile := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(confFile, []byte("num.partitions=2\nauto.create.topics.enable=true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts []brokerOpt
		want int
	}{
		{"default", nil, 1},
		{"file", []brokerOpt{withArgs("--config", confFile)}, 2},
		{"file and environment", []brokerOpt{withArgs("--config", confFile), withEnv("GREGOR_NUM_PARTITIONS=3")}, 3},
		{"file, environment and --set", []brokerOpt{withArgs("--config", confFile), withEnv("GREGOR_NUM_PARTITIONS=3"), withSet("num.partitions=4")}, 4},
	}
	for _, c := range cases {
		b := startBroker(t, c.opts...)
		got := autoCreatedPartitions(t, ctx, newKgo(t, b.Addr), "auto-"+strconv.Itoa(c.want))
		if got != c.want {
			t.Errorf("%s: auto-created topic has %d partitions, want %d", c.name, got, c.want)
		}
		b.Stop()
	}
}

// TestE2ECLIAdvertiseAndNodeID: --advertise and --node-id are what
// Metadata tells clients; SIGINT stops the broker cleanly.
func TestE2ECLIAdvertiseAndNodeID(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withArgs("--advertise", "gregor.example:19093", "--node-id", "7"))
	w := dialWire(t, b.Addr)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	corr := w.send(req)
	gotCorr, body := w.readFrame()
	if gotCorr != corr {
		t.Fatalf("Metadata: correlation ID %d, want %d", gotCorr, corr)
	}
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = 9
	// The response header of a flexible version carries tagged fields.
	if len(body) == 0 || body[0] != 0 {
		t.Fatalf("Metadata v9 response header: unexpected tagged fields % x", body[:min(len(body), 8)])
	}
	if err := resp.ReadFrom(body[1:]); err != nil {
		t.Fatalf("decoding Metadata v9: %v", err)
	}
	if len(resp.Brokers) != 1 {
		t.Fatalf("Metadata lists %d brokers, want 1", len(resp.Brokers))
	}
	br := resp.Brokers[0]
	if br.NodeID != 7 || br.Host != "gregor.example" || br.Port != 19093 {
		t.Errorf("Metadata broker %d at %s:%d, want 7 at gregor.example:19093", br.NodeID, br.Host, br.Port)
	}
	if resp.ControllerID != 7 {
		t.Errorf("Metadata controller %d, want 7", resp.ControllerID)
	}
	b.Interrupt()
}

// TestE2EReadmeFirstRecord follows the README: kcat produces "hello" to a
// topic created on first use, and a group-less franz-go consumer of the
// topic reads it at partition 0, offset 0.
func TestE2EReadmeFirstRecord(t *testing.T) {
	t.Parallel()
	kcat := lookTool(t, "kcat", "kafkacat")
	b := startBroker(t)
	ctx := testContext(t, time.Minute)
	const topic = "users.notification"
	if _, errOut, err := runCmd(ctx, []byte("hello\n"), kcat, "-b", b.Addr, "-t", topic, "-P"); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, errOut)
	}
	cl := newKgo(t, b.Addr,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	recs := pollKgoUntilRecords(t, ctx, cl, topic, 1)
	r := recs[0]
	if r.Partition != 0 || r.Offset != 0 || string(r.Value) != "hello" {
		t.Errorf("read partition %d offset %d value %q, want 0, 0, hello", r.Partition, r.Offset, r.Value)
	}
}

// TestE2ELogAppendTime: under log.message.timestamp.type=LogAppendTime the
// broker stamps its own time, and consumers see the LogAppendTime type.
func TestE2ELogAppendTime(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withSet("log.message.timestamp.type=LogAppendTime"))
	ctx := testContext(t, time.Minute)
	topic := topicName(t, "")
	createTopic(t, ctx, newAdmin(t, b.Addr), topic, 1, nil)
	old := time.Now().Add(-48 * time.Hour)
	before := time.Now().Add(-time.Second)
	prod := newKgo(t, b.Addr, kgo.ProducerLinger(0))
	recs := make([]*kgo.Record, 20)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(workloadValue("lat", i)), Timestamp: old}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons := newKgo(t, b.Addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	for _, r := range pollKgoUntilRecords(t, ctx, cons, topic, len(recs)) {
		if r.Attrs.TimestampType() != 1 {
			t.Errorf("offset %d: timestamp type %d, want 1 (LogAppendTime)", r.Offset, r.Attrs.TimestampType())
		}
		if r.Timestamp.Before(before) {
			t.Errorf("offset %d: timestamp %v is the producer's (%v), not the broker's append time", r.Offset, r.Timestamp, old)
		}
	}
}

// TestE2EIdleConnectionClosed: connections idle for connections.max.idle.ms
// are closed; busy ones are not.
func TestE2EIdleConnectionClosed(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withSet("connections.max.idle.ms=2000"))
	idle := dialWire(t, b.Addr)
	if r := idle.apiVersions(3); r.ErrorCode != 0 {
		t.Fatalf("ApiVersions: error %d", r.ErrorCode)
	}
	// A connection that asks every 200 ms (ten times more often than
	// the idle limit, to leave room for a loaded machine) stays open.
	busy := dialWire(t, b.Addr)
	for i := 0; i < 25; i++ {
		if r := busy.apiVersions(3); r.ErrorCode != 0 {
			t.Fatalf("ApiVersions on the busy connection: error %d", r.ErrorCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// By now the idle connection has been idle for about 5 s.
	idle.expectClosed("idle connection")
	if r := busy.apiVersions(3); r.ErrorCode != 0 {
		t.Errorf("busy connection after the idle one closed: error %d", r.ErrorCode)
	}
}

// TestE2EProcessDataDirLocked: a second broker process on a data directory
// another one serves refuses to start, naming the holder (Kafka's .lock);
// the first serves on untouched. Before, both served one log: offsets held
// twice, and acknowledged records lost after a restart. A directory is
// also refused in another mode (a single broker's started with --voters).
func TestE2EProcessDataDirLocked(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testContext(t, time.Minute)
	topic := topicName(t, "locked")
	createTopic(t, ctx, newAdmin(t, b.Addr), topic, 1, nil)
	recs := workload("first", 20)
	produceKgo(t, ctx, newKgo(t, b.Addr), topic, recs, true)

	out := startupFailure(t, nil, "serve", "--data-dir", b.DataDir, "--listen", "127.0.0.1:0")
	if want := "locked by process " + strconv.Itoa(b.cmd.Process.Pid); !strings.Contains(out, want) {
		t.Fatalf("second broker on %s: want %q in its output:\n%s", b.DataDir, want, out)
	}
	verifyRoundTrip(t, recs, consumeKgo(t, ctx, b.Addr, topic))
	b.Stop()

	out = startupFailure(t, nil, "serve", "--data-dir", b.DataDir, "--listen", "127.0.0.1:0",
		"--voters", "1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3", "--controller-listen", "127.0.0.1:0")
	if !strings.Contains(out, "single broker's data directory") || !strings.Contains(out, "without --voters") {
		t.Fatalf("a single broker's directory started as a cluster node:\n%s", out)
	}
	b = b.restart(t)
	verifyRoundTrip(t, recs, consumeKgo(t, ctx, b.Addr, topic))
}
