// Package compose tests the repository's Dockerfile and docker-compose.yml
// the way the README tells a newcomer to use them: build the binary, then
// docker-compose up, then produce and consume, kill a node, go on.
//
// It needs a Docker engine and docker-compose, and the fixed ports of the
// compose file (9092-9094, 19092-19094, 9644-9646): it runs only with
// GREGOR_COMPOSE_TEST=1 (.ci/run sets it, in a step of its own), and says
// why when it skips.
package compose

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/testutil"
)

var seeds = []string{"127.0.0.1:9092", "127.0.0.1:9093", "127.0.0.1:9094"}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// run runs a command in the repository root, failing the test on error.
func run(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestComposeCluster(t *testing.T) {
	if os.Getenv("GREGOR_COMPOSE_TEST") != "1" {
		t.Skip("GREGOR_COMPOSE_TEST=1 runs the docker-compose cluster test (it needs Docker and the compose file's fixed ports); .ci/run does")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		t.Skipf("SKIPPED, not passed: no Docker engine answers (docker info: %v)\n%s", err, out)
	}
	compose := "docker-compose"
	if _, err := exec.LookPath(compose); err != nil {
		t.Skipf("SKIPPED, not passed: no docker-compose: %v", err)
	}
	run(t, ctx, "go", "build", "-o", "gregor", "./cmd/gregor")
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer dcancel()
		if t.Failed() {
			for _, c := range []string{"gregor-1", "gregor-2", "gregor-3"} {
				out, _ := exec.CommandContext(dctx, "docker", "logs", "--tail", "60", c).CombinedOutput()
				t.Logf("docker logs %s:\n%s", c, out)
			}
		}
		cmd := exec.CommandContext(dctx, compose, "down", "-v")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		t.Logf("%s down -v: %v\n%s", compose, err, out)
	})
	t.Logf("%s", run(t, ctx, compose, "up", "-d", "--build"))
	waitHealthy(t, ctx, compose)

	// The README's first record: a producer sends hello, a Go consumer in a
	// group prints it.
	produce(t, ctx, "users.notification", "hello")
	if got := consumeLine(t, ctx, "users.notification", "readme-group"); got != "Topic: users.notification Partition: 0 Offset: 0 Value: hello" {
		t.Fatalf("consumer printed %q", got)
	}

	// One node down: the cluster still serves acks=all writes and reads.
	run(t, ctx, "docker", "kill", "gregor-2")
	produce(t, ctx, "users.notification", "still here")
	if got := consumeLine(t, ctx, "users.notification", "after-kill"); !strings.HasPrefix(got, "Topic: users.notification Partition: 0 Offset: 0 Value: hello") {
		t.Fatalf("after a node was killed, a new group read %q", got)
	}
	// The nodes still up stay healthy (their own /readyz).
	out, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.Name}} {{.State.Health.Status}}", "gregor-1", "gregor-3").CombinedOutput()
	if err != nil || strings.Count(string(out), " healthy") != 2 {
		t.Fatalf("the surviving nodes after the kill: %v %s", err, out)
	}
}

// waitHealthy waits for Docker to report every container healthy (the
// compose file's healthcheck runs `gregor ready` against each node).
func waitHealthy(t *testing.T, ctx context.Context, compose string) {
	t.Helper()
	testutil.EventuallyEvery(t, 3*time.Minute, 2*time.Second, func() error {
		out, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.Name}} {{.State.Health.Status}}", "gregor-1", "gregor-2", "gregor-3").CombinedOutput()
		if err != nil {
			return fmt.Errorf("docker inspect: %v: %s", err, out)
		}
		if strings.Count(string(out), " healthy") != 3 {
			return fmt.Errorf("not all healthy: %s", out)
		}
		return nil
	})
}

func produce(t *testing.T, ctx context.Context, topic, value string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation(), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := cl.ProduceSync(pctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("produce %q: %v", value, err)
	}
}

// consumeLine reads the first record in a new group and formats it as the
// README's consumer prints it.
func consumeLine(t *testing.T, ctx context.Context, topic, group string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		fs := cl.PollFetches(cctx)
		if cctx.Err() != nil {
			t.Fatalf("group %s read nothing: %v", group, cctx.Err())
		}
		for _, r := range fs.Records() {
			return fmt.Sprintf("Topic: %s Partition: %d Offset: %d Value: %s", r.Topic, r.Partition, r.Offset, r.Value)
		}
	}
}
