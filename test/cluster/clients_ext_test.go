package cluster

// The clients of TestClusterClients that run as processes: librdkafka
// through kcat and through confluent-kafka (Python), kafka-python, and
// kafkajs (Node.js). The scripts in testdata print what they did as lines
// (testdata/clients_common.py describes them); kcat is driven through its
// own input and output.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/test/internal/testproc"
)

// finishGrace bounds how long a client process may take to close its
// consumer (commit, leave the group) and exit once told to.
const finishGrace = 15 * time.Second

// startProc starts one of a client's processes; onLine gets each line it
// prints. The process exiting before r.shutdown is a problem of the run.
// It is killed when the test ends if still running.
func (r *clientRun) startProc(role string, cmd *exec.Cmd, ending *atomic.Bool, onLine func(line string, stderr bool)) *testproc.LineProc {
	r.t.Helper()
	cmd.Env = append(childEnv(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
	p, err := testproc.StartLines(cmd, r.logs, onLine)
	if err != nil {
		r.t.Fatalf("%s %s: starting %v: %v", r.drv.name, role, cmd.Args, err)
	}
	go func() {
		<-p.Done()
		if !ending.Load() {
			r.problem("%s exited early: %v", role, p.Err())
		}
	}()
	r.t.Cleanup(func() {
		ending.Store(true)
		p.Finish(syscall.SIGKILL, 5*time.Second)
	})
	return p
}

// logLine is the onLine of lines that are only logged.
func (r *clientRun) logLine(role string) func(string, bool) {
	return func(line string, stderr bool) {
		stream := "out"
		if stderr {
			stream = "err"
		}
		fmt.Fprintf(r.logs, "%s %s: %s\n", role, stream, line)
	}
}

// startScript runs a script of testdata that both produces and consumes
// and speaks the line protocol of testdata/clients_common.py.
func (r *clientRun) startScript(interpreter, script string, extra ...string) {
	args := append([]string{script}, extra...)
	args = append(args, "--bootstrap", strings.Join(r.c.KafkaAddrs(), ","),
		"--topic", r.topic, "--group", r.group, "--name", r.drv.name,
		"--interval-ms", strconv.FormatInt(clientInterval.Milliseconds(), 10))
	var ending atomic.Bool
	logLine := r.logLine("script")
	p := r.startProc("script", exec.Command(interpreter, args...), &ending, func(line string, stderr bool) {
		if stderr || !r.clientLine(line) {
			logLine(line, stderr)
		}
	})
	r.stopProducing = func() {
		if err := p.WriteLine("stop"); err != nil {
			r.problem("telling the script to stop: %v", err)
		}
	}
	r.shutdown = sync.OnceFunc(func() {
		ending.Store(true)
		if killed, err := p.Finish(nil, finishGrace); killed || err != nil {
			r.problem("script did not exit cleanly at EOF (killed: %v): %v", killed, err)
		}
	})
}

func testdataPath(parts ...string) string {
	p, err := filepath.Abs(filepath.Join(append([]string{"testdata"}, parts...)...))
	if err != nil {
		panic(err)
	}
	return p
}

// confluentDriver: librdkafka through confluent-kafka, an idempotent
// producer (enable.idempotence, acks=all) and a subscribed Consumer with
// auto-commit (testdata/clients_confluent.py).
func confluentDriver() *clientDriver {
	return &clientDriver{
		name:       "confluent-kafka",
		idempotent: true,
		available:  func() error { return testproc.PythonModule("confluent_kafka", "python3-confluent-kafka") },
		start: func(r *clientRun) {
			r.startScript(testproc.DebianPython, testdataPath("clients_confluent.py"))
		},
	}
}

// kafkaPythonDriver: kafka-python, acks="all" with retries and one request
// in flight; no idempotence in kafka-python 2.0 (testdata/
// clients_kafka_python.py).
func kafkaPythonDriver() *clientDriver {
	return &clientDriver{
		name:       "kafka-python",
		idempotent: false,
		available:  func() error { return testproc.PythonModule("kafka", "python3-kafka") },
		start: func(r *clientRun) {
			r.startScript(testproc.DebianPython, testdataPath("clients_kafka_python.py"))
		},
	}
}

// kafkajsDriver: kafkajs's idempotent producer (idempotent: true, acks -1,
// one request in flight) and a consumer group with auto-commit
// (testdata/kafkajs/clients.js). .ci/run installs the pinned kafkajs
// with npm ci into testdata/kafkajs/node_modules.
func kafkajsDriver() *clientDriver {
	var node string
	return &clientDriver{
		name:       "kafkajs",
		idempotent: true,
		available: func() error {
			var err error
			if node, err = testproc.LookTool("nodejs", "node", "nodejs"); err != nil {
				return err
			}
			if _, err := os.Stat(testdataPath("kafkajs", "node_modules", "kafkajs", "package.json")); err != nil {
				return fmt.Errorf("kafkajs not installed (npm ci --prefix test/cluster/testdata/kafkajs, as .ci/run does): %w", err)
			}
			return nil
		},
		start: func(r *clientRun) {
			level := "warn"
			if clientLogLevel() == kgo.LogLevelDebug { // GREGOR_CLUSTER_CLIENT_DEBUG=1
				level = "debug"
			}
			r.startScript(node, testdataPath("kafkajs", "clients.js"), "--log-level", level)
		},
	}
}

// kcat's delivery reports at verbosity 3 (-v -v), on stderr, one per
// record in the order the records were produced (librdkafka reports a
// partition's records in order): success with the offset, or failure.
var (
	kcatDelivered = regexp.MustCompile(`Message delivered to partition (\d+) \(offset (-?\d+)\)`)
	kcatFailed    = regexp.MustCompile(`Delivery failed for message: (.*)$`)
)

// kcatLineSize is the size of each line fed to kcat -P: Debian's kcat
// 1.7.1 reads its input in blocks of 1024 bytes with fread, so that it
// produces nothing until 1024 bytes have come (fixed in kcat 1.8.0,
// edenhill/kcat#343). Lines of exactly that size are produced as they
// come; the padding goes into the key.
const kcatLineSize = 1024

// kcatLine is record seq as a line of kcat -P -K: (key ':' value), its key
// padded so that the line, newline included, is kcatLineSize bytes.
func kcatLine(seq int64) string {
	v := strconv.FormatInt(seq, 10)
	return strings.Repeat("k", kcatLineSize-len(v)-2) + ":" + v
}

// kcatDriver: kcat -P with an idempotent librdkafka producer
// (enable.idempotence=true, acks=all) fed one record a line on stdin
// (kcatLine),
// acknowledgements read from its delivery reports; kcat -G as the group
// consumer (auto-commit). kcat's delivery reports do not name the record:
// the n-th report is the n-th line sent, and verify checks the offset it
// gives against the log.
func kcatDriver() *clientDriver {
	var kcat string
	return &clientDriver{
		name:       "kcat",
		idempotent: true,
		available: func() (err error) {
			kcat, err = testproc.LookTool("kcat", "kcat", "kafkacat")
			return err
		},
		start: func(r *clientRun) { startKcat(r, kcat) },
	}
}

func startKcat(r *clientRun, kcat string) {
	seeds := strings.Join(r.c.KafkaAddrs(), ",")
	var prodEnding, consEnding atomic.Bool
	var reports int64 // delivery reports so far: the next one is for this seq
	logProducer := r.logLine("producer")
	prod := r.startProc("producer", exec.Command(kcat, "-b", seeds, "-P", "-t", r.topic, "-K", ":", "-v", "-v",
		"-X", "client.id="+r.drv.name+"-producer",
		"-X", "enable.idempotence=true", "-X", "acks=all",
		"-X", "message.timeout.ms=30000", "-X", "linger.ms=5", "-X", "retry.backoff.ms=100",
	), &prodEnding, func(line string, stderr bool) {
		if m := kcatDelivered.FindStringSubmatch(line); stderr && m != nil {
			offset, _ := strconv.ParseInt(m[2], 10, 64)
			if m[1] != "0" {
				r.problem("kcat delivered a record to partition %s of a one-partition topic", m[1])
			}
			r.ack(reports, offset)
			reports++
			return
		}
		if m := kcatFailed.FindStringSubmatch(line); stderr && m != nil {
			r.fail(reports, m[1])
			reports++
		}
		logProducer(line, stderr)
	})
	stop, stopProducing := stopOnce()
	produceEvery(r, stop, func(_ context.Context, seq int64) {
		if err := prod.WriteLine(kcatLine(seq)); err != nil {
			r.problem("writing to kcat -P: %v", err)
		}
	}, func() {
		// kcat flushes at EOF and exits once every record is delivered
		// or failed (message.timeout.ms).
		prodEnding.Store(true)
		if killed, err := prod.Finish(nil, 40*time.Second); killed || err != nil {
			r.problem("kcat -P did not exit cleanly at EOF (killed: %v): %v", killed, err)
		}
		r.setFlushed()
	})
	r.stopProducing = stopProducing

	logConsumer := r.logLine("consumer")
	cons := r.startProc("consumer", exec.Command(kcat, "-b", seeds, "-G", r.group, "-u", "-f", "%p %o %s\n",
		"-X", "client.id="+r.drv.name+"-consumer",
		"-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=500",
		"-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
		"-X", "fetch.wait.max.ms=100",
		r.topic,
	), &consEnding, func(line string, stderr bool) {
		if !stderr {
			f := strings.Fields(line)
			if len(f) == 3 {
				p, err1 := strconv.ParseInt(f[0], 10, 32)
				o, err2 := strconv.ParseInt(f[1], 10, 64)
				if err1 == nil && err2 == nil {
					r.consume(int32(p), o, f[2])
					return
				}
			}
		}
		logConsumer(line, stderr)
	})
	r.shutdown = sync.OnceFunc(func() {
		stopProducing()
		consEnding.Store(true)
		// SIGTERM: kcat -G commits, leaves the group and exits.
		killed, err := cons.Finish(syscall.SIGTERM, finishGrace)
		var exit *exec.ExitError
		if killed || (err != nil && !errors.As(err, &exit)) {
			r.problem("kcat -G did not exit at SIGTERM (killed: %v): %v", killed, err)
		}
	})
}
