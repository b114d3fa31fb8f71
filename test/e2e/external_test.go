package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/test/internal/testproc"
)

// debianPython is the distribution's interpreter, which sees the Debian
// python3-* modules.
const debianPython = testproc.DebianPython

// lookTool finds the first of names on PATH, or skips (fails under
// GREGOR_REQUIRE_EXTERNAL=1).
func lookTool(t *testing.T, names ...string) string {
	t.Helper()
	p, err := testproc.LookTool("kcat", names...)
	if err != nil {
		skipOrFail(t, "%v", err)
	}
	return p
}

// TestE2EKcatRoundTrip produces keyed lines with kcat (librdkafka's default
// consistent_random partitioner) under each codec and reads each partition
// back with kcat's consumer.
func TestE2EKcatRoundTrip(t *testing.T) {
	t.Parallel()
	kcat := lookTool(t, "kcat", "kafkacat")
	b := startBroker(t)
	ctx := testContext(t, 3*time.Minute)
	adm := newAdmin(t, b.Addr)
	out, errOut, err := runCmd(ctx, nil, kcat, "-V")
	t.Logf("kcat -V: %s%s (%v)", strings.TrimSpace(out), strings.TrimSpace(errOut), err)

	const n, partitions = 300, 4
	for _, codec := range compressionCodecs {
		t.Run(codec, func(t *testing.T) {
			topic := topicName(t, "")
			createTopic(t, ctx, adm, topic, partitions, nil)

			// kcat -L sees the topic and its partitions.
			out, errOut, err := runCmd(ctx, nil, kcat, "-b", b.Addr, "-L", "-J", "-t", topic)
			if err != nil {
				t.Fatalf("kcat -L: %v\nstderr: %s", err, errOut)
			}
			var md struct {
				Brokers []struct {
					ID   int32  `json:"id"`
					Name string `json:"name"`
				} `json:"brokers"`
				Topics []struct {
					Topic      string `json:"topic"`
					Partitions []struct {
						Partition int32 `json:"partition"`
						Leader    int32 `json:"leader"`
					} `json:"partitions"`
				} `json:"topics"`
			}
			if err := json.Unmarshal([]byte(out), &md); err != nil {
				t.Fatalf("kcat -L -J output %q: %v", out, err)
			}
			if len(md.Brokers) != 1 || md.Brokers[0].Name != b.Addr {
				t.Errorf("kcat -L brokers %+v, want one at %s", md.Brokers, b.Addr)
			}
			if len(md.Topics) != 1 || md.Topics[0].Topic != topic || len(md.Topics[0].Partitions) != partitions {
				t.Fatalf("kcat -L topics %+v, want %s with %d partitions", md.Topics, topic, partitions)
			}

			recs := workload(codec, n)
			var in strings.Builder
			for _, r := range recs {
				fmt.Fprintf(&in, "%s:%s\n", r.Key, r.Value)
			}
			args := []string{"-b", b.Addr, "-P", "-t", topic, "-K:", "-z", codec, "-X", "linger.ms=5"}
			if codec == "zstd" || codec == "gzip" {
				args = append(args, "-X", "enable.idempotence=true")
			}
			_, errOut, err = runCmd(ctx, []byte(in.String()), kcat, args...)
			if err != nil {
				t.Fatalf("kcat producer %v: %v\nstderr: %s", args, err, errOut)
			}
			if strings.Contains(errOut, "ERROR") {
				t.Errorf("kcat producer reported errors:\n%s", errOut)
			}

			var got []gotRecord
			for p := 0; p < partitions; p++ {
				cargs := []string{"-b", b.Addr, "-C", "-t", topic, "-p", strconv.Itoa(p), "-o", "beginning", "-e", "-q", "-f", "%p %o %k %s\n"}
				out, errOut, err := runCmd(ctx, nil, kcat, cargs...)
				if err != nil {
					t.Fatalf("kcat consumer %v: %v\nstderr: %s", cargs, err, errOut)
				}
				for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
					if line == "" {
						continue
					}
					var g gotRecord
					if _, err := fmt.Sscanf(line, "%d %d %s %s", &g.Partition, &g.Offset, &g.Key, &g.Value); err != nil {
						t.Fatalf("kcat consumer line %q: %v", line, err)
					}
					if g.Partition != int32(p) {
						t.Errorf("kcat -p %d printed a record of partition %d", p, g.Partition)
					}
					got = append(got, g)
				}
			}
			verifyRoundTrip(t, recs, got)
		})
	}
	b.assertRunning(t)
}

// requirePythonModule skips (or fails) unless the Debian interpreter can
// import module.
func requirePythonModule(t *testing.T, module, pkg string) {
	t.Helper()
	if err := testproc.PythonModule(module, pkg); err != nil {
		skipOrFail(t, "%v", err)
	}
}

// runPythonRoundTrip runs testdata/script against a fresh broker and checks
// that it reports every codec as OK (or, where allowed, SKIP).
func runPythonRoundTrip(t *testing.T, script string, extraArgs ...string) {
	t.Helper()
	b := startBroker(t)
	ctx := testContext(t, 4*time.Minute)
	path, err := filepath.Abs(filepath.Join("testdata", script))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{path, "--bootstrap", b.Addr, "--topic-prefix", topicName(t, ""), "--partitions", "4", "--count", "400"}, extraArgs...)
	cmd := exec.CommandContext(ctx, debianPython, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	t.Logf("%s stdout:\n%s", script, stdout.String())
	if s := stderr.String(); s != "" {
		t.Logf("%s stderr:\n%s", script, tailLines(s, 80))
	}
	if runErr != nil {
		t.Errorf("%s failed: %v (ctx: %v)", script, runErr, ctx.Err())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if lines[len(lines)-1] != "PASS" {
		t.Errorf("%s did not end with PASS", script)
	}
	for _, codec := range compressionCodecs {
		switch {
		case strings.Contains(stdout.String(), "OK codec="+codec+" "):
		case strings.Contains(stdout.String(), "SKIP codec="+codec+":"):
			t.Logf("%s skipped codec %s (compression module missing)", script, codec)
		default:
			t.Errorf("%s: codec %s not reported OK", script, codec)
		}
	}
	b.assertRunning(t)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// TestE2EPythonConfluent runs the confluent-kafka (librdkafka) round trip.
func TestE2EPythonConfluent(t *testing.T) {
	t.Parallel()
	requirePythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	runPythonRoundTrip(t, "confluent_roundtrip.py")
}

// TestE2EPythonKafkaPython runs the kafka-python round trip; codecs whose
// Python modules are missing are skipped unless GREGOR_REQUIRE_EXTERNAL=1.
func TestE2EPythonKafkaPython(t *testing.T) {
	t.Parallel()
	requirePythonModule(t, "kafka", "python3-kafka")
	var extra []string
	if requireExternal() {
		extra = append(extra, "--require-all-codecs")
	}
	runPythonRoundTrip(t, "kafka_python_roundtrip.py", extra...)
}
