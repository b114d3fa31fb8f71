package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/test/internal/testproc"
)

// TestClusterClients: every client library the project is tested with
// (sarama, kafka-go, librdkafka through kcat and through confluent-kafka,
// kafka-python, kafkajs) produces with acks=all to a topic of its own (one
// partition, RF 3, min.insync.replicas 2) and consumes it in a consumer
// group of its own, all at once, while the broker that leads every one of
// those partitions and coordinates every one of those groups is SIGKILLed
// and later restarted. Each client must carry on by itself: its producer's
// retries reach the new leader, its group consumer finds the new
// coordinator and leader and goes on. Afterwards every record a client
// reported acknowledged must be in the log (read whole with franz-go), at
// the offset it was acknowledged with, acknowledged records in the order
// they were sent, without duplicates where the producer is idempotent; and
// the group consumer must have consumed every acknowledged record, each as
// the log holds it. How long each client took to produce and to consume
// again after the kill is logged ("CLIENT ..." lines).
//
// The killed broker is not the controller, so that the times measured are
// those of a partition and group failover, not of a metadata quorum
// election too (TestClusterControllerFailover covers that). A client that
// is not installed is skipped, or fails the test under
// GREGOR_REQUIRE_EXTERNAL=1. GREGOR_CLUSTER_CLIENT_DEBUG=1 keeps every
// log (kafkajs's at debug level).
//
// Each client uses the durability settings its users are told to use
// (acks=all, the idempotent producer where the client has one, retries
// enough to outlast a failover); the drivers say which. What the clients
// do by themselves, as measured (broker.session.timeout.ms 3 s, session
// timeouts 6 s): producers resume about 3-5 s after the kill, once the
// dead broker is fenced and the partition has a new leader. Consumers
// resume as fast, except kafka-go's Reader, which after the failed
// heartbeat leaves and rejoins as a new member, so that the new
// coordinator waits for the old member's session to expire (~9 s), and
// kafkajs, which keeps its coordinator across connection errors until its
// consumer's retries run out and it restarts itself (~9 s).
func TestClusterClients(t *testing.T) {
	var runs []*clientRun
	for _, d := range clientDrivers() {
		if err := d.available(); err != nil {
			// A subtest of its own says that this client is skipped (or
			// fails, under GREGOR_REQUIRE_EXTERNAL=1); the others run.
			t.Run(d.name, func(t *testing.T) { testproc.SkipOrFail(t, "%v", err) })
			continue
		}
		runs = append(runs, &clientRun{drv: d})
	}
	if len(runs) == 0 {
		t.Skip("no client available")
	}

	// withRefuseWhileDown: the killed node's address refuses connections,
	// as a dead host's does; with the proxies' accept-and-reset, kafka-go
	// went on asking the dead node, its first bootstrap address, for its
	// group coordinator (it takes the first address that connects).
	c := startCluster(t, 3, withSet("min.insync.replicas=2", "offsets.topic.replication.factor=3"), withRefuseWhileDown())
	adm := c.admin()
	controller := c.controller(adm)
	victim := c.others(controller)[0]
	c.logf("the clients' partitions and groups go to node %d (controller: node %d)", victim, controller)
	groups := groupsCoordinatedBy(t, c, adm, victim, len(runs))
	for i, r := range runs {
		r.t, r.c = t, c
		r.group = groups[i]
		r.logs = failureLog(t, r.drv.name)
		r.topic = c.createTopicLedBy(adm, "clients-"+r.drv.name, victim)
	}
	for _, r := range runs {
		r.drv.start(r)
	}

	waitClients(t, runs, "acks and consumption before the kill", 60*time.Second, func(r *clientRun) error {
		return r.progress(time.Time{}, 50)
	})
	killed := time.Now()
	c.Kill(victim)
	waitClients(t, runs, "acks and consumption after the kill", 60*time.Second, func(r *clientRun) error {
		return r.progress(killed, 20)
	})
	for _, r := range runs {
		r.resumed(killed)
	}

	c.Restart(victim)
	for _, r := range runs {
		c.waitISRContains(adm, 30*time.Second, r.topic, victim)
	}
	restarted := time.Now()
	c.logf("node %d back in the ISR of every client's partition", victim)
	waitClients(t, runs, "acks and consumption after the restart", 30*time.Second, func(r *clientRun) error {
		return r.progress(restarted, 20)
	})

	for _, r := range runs {
		r.stopProducing()
	}
	waitClients(t, runs, "producers flushed", 40*time.Second, func(r *clientRun) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.flushed {
			return errorf("%d acks, %d failures of %d sent, still in flight", len(r.acks), len(r.fails), len(r.sentAt))
		}
		return nil
	})
	waitClients(t, runs, "every acknowledged record consumed", 30*time.Second, func(r *clientRun) error {
		if m := r.unconsumed(); len(m) > 0 {
			return errorf("acknowledged, not consumed yet: seqs %v", m)
		}
		return nil
	})
	for _, r := range runs {
		r.shutdown()
	}
	for _, r := range runs {
		t.Run(r.drv.name, r.verify)
	}
	if clientLogLevel() == kgo.LogLevelDebug { // GREGOR_CLUSTER_CLIENT_DEBUG=1
		keepLogs(t, c, runs)
	}
}

// keepLogs writes every client's and node's whole log to a new directory,
// for a look at a run that passed.
func keepLogs(t *testing.T, c *cluster, runs []*clientRun) {
	dir, err := os.MkdirTemp("", "gregor-clients-logs-")
	if err != nil {
		t.Fatal(err)
	}
	logs := map[string]string{}
	for _, r := range runs {
		logs[r.drv.name] = r.logs.String()
	}
	for _, n := range c.nodes {
		logs[fmt.Sprintf("node%d", n.ID)] = n.logs.String()
	}
	for name, text := range logs {
		if err := os.WriteFile(filepath.Join(dir, name+".log"), []byte(text), 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Logf("client and node logs kept in %s", dir)
}

// clientDriver runs one client library against the cluster.
type clientDriver struct {
	name string
	// idempotent: the producer is idempotent, so no record may be in the
	// log twice; without it a retried request may write one twice.
	idempotent bool
	// available returns nil, or why the client cannot run here.
	available func() error
	// start starts the client's producer and group consumer on r.topic and
	// r.group, reporting to r, and sets r.stopProducing and r.shutdown.
	start func(r *clientRun)
}

// clientDrivers are the clients TestClusterClients runs.
func clientDrivers() []*clientDriver {
	return []*clientDriver{
		saramaDriver(),
		kafkaGoDriver(),
		kcatDriver(),
		confluentDriver(),
		kafkaPythonDriver(),
		kafkajsDriver(),
	}
}

// clientRun is one client's run: what it reported, as events.
type clientRun struct {
	t            *testing.T
	c            *cluster
	drv          *clientDriver
	topic, group string
	logs         *logBuffer
	broken       bool // failed a phase: later phases do not wait for it

	// Set by the driver's start.
	stopProducing func() // stop sending; flushed follows
	shutdown      func() // close the consumer (and everything); bounded

	mu       sync.Mutex // guards the fields below
	sentAt   map[int64]time.Time
	acks     []ack // in the order they came
	fails    []string
	consumed []consumedRecord
	flushed  bool
	problems []string // reported by the driver: early exits, malformed lines
}

// consumedRecord is a record the client's group consumer got.
type consumedRecord struct {
	offset int64
	value  string
	at     time.Time
}

// sending records that the client was handed record seq now.
func (r *clientRun) sending(seq int64) {
	r.mu.Lock()
	if r.sentAt == nil {
		r.sentAt = map[int64]time.Time{}
	}
	r.sentAt[seq] = time.Now()
	r.mu.Unlock()
}

func (r *clientRun) ack(seq, offset int64) {
	r.mu.Lock()
	r.acks = append(r.acks, ack{seq: seq, offset: offset, at: time.Now()})
	r.mu.Unlock()
}

func (r *clientRun) fail(seq int64, err string) {
	r.mu.Lock()
	r.fails = append(r.fails, fmt.Sprintf("seq %d at %s: %s", seq, time.Now().Format("15:04:05.000"), err))
	r.mu.Unlock()
}

func (r *clientRun) consume(partition int32, offset int64, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if partition != 0 {
		r.problems = append(r.problems, fmt.Sprintf("consumed a record of partition %d of a one-partition topic", partition))
	}
	r.consumed = append(r.consumed, consumedRecord{offset: offset, value: value, at: time.Now()})
}

func (r *clientRun) setFlushed() {
	r.mu.Lock()
	r.flushed = true
	r.mu.Unlock()
}

func (r *clientRun) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(r.logs, "### problem: %s\n", msg)
	r.mu.Lock()
	r.problems = append(r.problems, msg)
	r.mu.Unlock()
}

// clientLine handles a line of the protocol the client scripts print
// (testdata/clients_common.py), reporting false for lines outside it.
func (r *clientRun) clientLine(line string) bool {
	verb, rest, _ := strings.Cut(line, " ")
	f := strings.Fields(rest)
	switch verb {
	case "ack":
		seq, err1 := strconv.ParseInt(field(f, 0), 10, 64)
		part, err2 := strconv.ParseInt(field(f, 1), 10, 32)
		offset, err3 := strconv.ParseInt(field(f, 2), 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || part != 0 {
			r.problem("malformed ack line %q", line)
			return true
		}
		r.ack(seq, offset)
	case "fail":
		seq, err := strconv.ParseInt(field(f, 0), 10, 64)
		if err != nil {
			r.problem("malformed fail line %q", line)
			return true
		}
		_, msg, _ := strings.Cut(rest, " ")
		r.fail(seq, msg)
		fmt.Fprintln(r.logs, line)
	case "rec":
		part, err1 := strconv.ParseInt(field(f, 0), 10, 32)
		offset, err2 := strconv.ParseInt(field(f, 1), 10, 64)
		if err1 != nil || err2 != nil || len(f) != 3 {
			r.problem("malformed rec line %q", line)
			return true
		}
		r.consume(int32(part), offset, f[2])
	case "sent":
		seq, err := strconv.ParseInt(field(f, 0), 10, 64)
		if err != nil {
			r.problem("malformed sent line %q", line)
			return true
		}
		r.sending(seq)
	case "flushed":
		r.setFlushed()
		fmt.Fprintln(r.logs, line)
	case "ready", "error":
		fmt.Fprintln(r.logs, line)
	default:
		return false
	}
	return true
}

func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// sentSince reports whether the value is that of a record handed to the
// client at or after since. r.mu must be held.
func (r *clientRun) sentSinceLocked(value string, since time.Time) bool {
	seq, err := strconv.ParseInt(value, 10, 64)
	at, ok := r.sentAt[seq]
	return err == nil && ok && !at.Before(since)
}

// progress returns nil once n records handed to the client at or after
// since have been acknowledged and n consumed.
func (r *clientRun) progress(since time.Time, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) > 0 {
		return errorf("%s", strings.Join(r.problems, "; "))
	}
	acks, consumed := 0, 0
	for _, a := range r.acks {
		if r.sentSinceLocked(strconv.FormatInt(a.seq, 10), since) {
			acks++
		}
	}
	for _, cr := range r.consumed {
		if r.sentSinceLocked(cr.value, since) {
			consumed++
		}
	}
	if acks < n || consumed < n {
		return errorf("of the records sent since %s, %d acknowledged and %d consumed; want %d of each (%d failures: %v)",
			since.Format("15:04:05.000"), acks, consumed, n, len(r.fails), lastOf(r.fails, 3))
	}
	return nil
}

func lastOf(s []string, n int) []string { return s[max(len(s)-n, 0):] }

// resumed logs how long after the kill the client had its first ack, and
// its group consumer its first record, of a record sent after the kill (so
// served by the new leader), and the longest time between two acks from a
// second before the kill on.
func (r *clientRun) resumed(killed time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var firstAck, firstConsumed time.Time
	var gap time.Duration
	var gapFrom time.Time
	before := 0
	for i, a := range r.acks {
		if a.at.Before(killed) {
			before++
		}
		if firstAck.IsZero() && r.sentSinceLocked(strconv.FormatInt(a.seq, 10), killed) {
			firstAck = a.at
		}
		if i > 0 && !a.at.Before(killed.Add(-time.Second)) {
			if d := a.at.Sub(r.acks[i-1].at); d > gap {
				gap, gapFrom = d, r.acks[i-1].at
			}
		}
	}
	for _, cr := range r.consumed {
		if r.sentSinceLocked(cr.value, killed) {
			firstConsumed = cr.at
			break
		}
	}
	r.c.logf("CLIENT %s: of the records sent after the kill, the first acknowledged %v after it, the first consumed %v after it; longest time without an ack %v, from %v after the kill (%d acks before the kill, %d failures so far)",
		r.drv.name, firstAck.Sub(killed).Round(time.Millisecond), firstConsumed.Sub(killed).Round(time.Millisecond),
		gap.Round(time.Millisecond), gapFrom.Sub(killed).Round(time.Millisecond), before, len(r.fails))
}

// unconsumed returns up to 5 acknowledged seqs the consumer has not got.
func (r *clientRun) unconsumed() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := map[string]bool{}
	for _, cr := range r.consumed {
		got[cr.value] = true
	}
	var out []int64
	for _, a := range r.acks {
		if !got[strconv.FormatInt(a.seq, 10)] && len(out) < 5 {
			out = append(out, a.seq)
		}
	}
	return out
}

// verify checks the client's topic against what the client reported.
func (r *clientRun) verify(t *testing.T) {
	recs := consumeAll(t, r.c, r.topic, 1)[0]
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Errorf("%s", p)
	}
	if len(r.fails) > 0 {
		t.Errorf("%d records failed; the last: %v", len(r.fails), lastOf(r.fails, 5))
	}
	problems, dups, unackedDups := checkPartitionLog(recs, r.acks, !r.drv.idempotent)
	for _, p := range problems {
		t.Error(p)
	}
	if r.drv.idempotent && unackedDups > 0 {
		t.Errorf("%d records of the log are copies of records never acknowledged, from an idempotent producer", unackedDups)
	}
	dups += unackedDups

	// The group consumer got every acknowledged record, each as the log
	// holds it at its offset.
	byOffset := map[int64]string{}
	for _, rec := range recs {
		byOffset[rec.offset] = rec.value
	}
	consumed := map[string]bool{}
	redelivered, mismatched := 0, 0
	seenOffset := map[int64]bool{}
	for _, cr := range r.consumed {
		if v, ok := byOffset[cr.offset]; !ok || v != cr.value {
			if mismatched++; mismatched <= 5 {
				t.Errorf("consumer got %q at offset %d; the log holds %q there (found: %v)", cr.value, cr.offset, v, ok)
			}
		}
		if seenOffset[cr.offset] {
			redelivered++
		}
		seenOffset[cr.offset] = true
		consumed[cr.value] = true
	}
	missed := 0
	for _, a := range r.acks {
		if !consumed[strconv.FormatInt(a.seq, 10)] {
			if missed++; missed <= 5 {
				t.Errorf("acknowledged seq %d (offset %d) never consumed", a.seq, a.offset)
			}
		}
	}
	lost := 0
	inLog := map[string]bool{}
	for _, rec := range recs {
		inLog[rec.value] = true
	}
	for _, a := range r.acks {
		if !inLog[strconv.FormatInt(a.seq, 10)] {
			lost++
		}
	}
	r.c.logf("CLIENT %s: %d sent, %d acknowledged, %d failed, %d acknowledged lost; log %d records (%d duplicates); consumed %d (%d redelivered), %d acknowledged not consumed",
		r.drv.name, len(r.sentAt), len(r.acks), len(r.fails), lost, len(recs), dups, len(r.consumed), redelivered, missed)
}

// checkPartitionLog checks one partition's log (read whole) against the
// acks a producer got for it: every acknowledged record is there, at the
// offset it was acknowledged with (when the client reports offsets, that
// is, >= 0), and acknowledged records appear in the order they were sent,
// and, unless dupsAllowed, once. It returns the problems found, how many
// records in the log are later copies of an acknowledged record, and how
// many are copies (first ones included) of a record never acknowledged.
func checkPartitionLog(recs []logRecord, acks []ack, dupsAllowed bool) (problems []string, ackedDups, unackedDups int) {
	bySeq := map[int64][]int64{} // sequence -> offsets holding it
	byOffset := map[int64]int64{}
	for _, r := range recs {
		bySeq[r.seq] = append(bySeq[r.seq], r.offset)
		byOffset[r.offset] = r.seq
	}
	lastSeq := int64(-1)
	acked := map[int64]bool{}
	for _, a := range acks {
		acked[a.seq] = true
		offs := bySeq[a.seq]
		switch {
		case len(offs) == 0:
			problems = append(problems, fmt.Sprintf("acked seq %d (offset %d) is missing", a.seq, a.offset))
		case len(offs) > 1 && !dupsAllowed:
			problems = append(problems, fmt.Sprintf("acked seq %d is in the log %d times, at offsets %v", a.seq, len(offs), offs))
		case a.offset >= 0 && !slices.Contains(offs, a.offset):
			problems = append(problems, fmt.Sprintf("acked seq %d was acked at offset %d, is at offsets %v (offset %d holds seq %d)",
				a.seq, a.offset, offs, a.offset, byOffset[a.offset]))
		}
		if len(offs) > 1 {
			ackedDups += len(offs) - 1
		}
		if a.seq <= lastSeq {
			problems = append(problems, fmt.Sprintf("acks out of order: seq %d after seq %d", a.seq, lastSeq))
		}
		lastSeq = a.seq
	}
	// The first copies of acknowledged records, in log order, have
	// increasing seqs.
	prev := int64(-1)
	first := map[int64]bool{}
	for _, r := range recs {
		if !acked[r.seq] {
			if len(bySeq[r.seq]) > 1 {
				unackedDups++
			}
			continue
		}
		if first[r.seq] {
			continue
		}
		first[r.seq] = true
		if r.seq <= prev {
			problems = append(problems, fmt.Sprintf("log order: seq %d at offset %d follows seq %d", r.seq, r.offset, prev))
		}
		prev = r.seq
	}
	if len(problems) > 20 {
		problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
	}
	return problems, ackedDups, unackedDups
}

// waitClients waits until cond accepts every run not broken yet; a run
// that cond has not accepted by the deadline fails the test and is marked
// broken, so that the others carry on.
func waitClients(t *testing.T, runs []*clientRun, what string, timeout time.Duration, cond func(*clientRun) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pending := map[*clientRun]error{}
	for _, r := range runs {
		if !r.broken {
			pending[r] = errorf("not checked")
		}
	}
	start := time.Now()
	var took []string
	pause := time.Millisecond
	for len(pending) > 0 {
		for r := range pending {
			if err := cond(r); err == nil {
				delete(pending, r)
				took = append(took, fmt.Sprintf("%s %v", r.drv.name, time.Since(start).Round(10*time.Millisecond)))
			} else {
				pending[r] = err
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for r, err := range pending {
				t.Errorf("%s: %s: not within %v: %v", r.drv.name, what, timeout, err)
				r.broken = true
			}
			return
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
	runs[0].c.logf("all clients: %s (%s)", what, strings.Join(took, ", "))
}

// createTopicLedBy creates a one-partition topic (RF: every node) led by
// node leader, and returns its name: prefix, or prefix-2, -3 ... The
// controller assigns replicas itself (CreateTopics takes a manual
// assignment only on a single broker), rotating where each new partition
// starts, so the topics it creates led by other nodes are left unused.
func (c *cluster) createTopicLedBy(adm *kadm.Client, prefix string, leader int32) string {
	c.t.Helper()
	for try := 1; try <= 2*len(c.nodes); try++ {
		topic := prefix
		if try > 1 {
			topic = fmt.Sprintf("%s-%d", prefix, try)
		}
		c.createTopic(adm, topic, 1, int16(len(c.nodes)), nil)
		if p := c.partition(adm, topic, 0); p.Leader == leader {
			return topic
		}
	}
	c.t.Fatalf("no topic led by node %d in %d tries", leader, 2*len(c.nodes))
	return ""
}

// groupsCoordinatedBy returns n group names whose coordinator is node id.
func groupsCoordinatedBy(t *testing.T, c *cluster, adm *kadm.Client, id int32, n int) []string {
	t.Helper()
	var names []string
	for i := range 300 {
		names = append(names, fmt.Sprintf("clients-group-%d", i))
	}
	var found []string
	checkFor(t, 30*time.Second, func() error {
		found = found[:0]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resps := adm.FindGroupCoordinators(ctx, names...)
		for _, name := range names {
			r, ok := resps[name]
			if !ok || r.Err != nil {
				return fmt.Errorf("coordinator of %s: %v (answered: %v)", name, r.Err, ok)
			}
			if r.NodeID == id && len(found) < n {
				found = append(found, name)
			}
		}
		if len(found) < n {
			return errorf("only %d of %d groups coordinated by node %d", len(found), len(names), id)
		}
		return nil
	})
	// The coordinators answer once __consumer_offsets has leaders; wait
	// for its full ISR too, so the kill leaves in-sync replicas to elect.
	c.waitFullISR(adm, 30*time.Second, "__consumer_offsets")
	return found
}
