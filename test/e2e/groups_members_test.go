package e2e

// The machinery of the consumer group tests: every group member is a
// separate process, so that it can leave cleanly (SIGTERM) or vanish
// (SIGKILL) like a real consumer. Go clients (franz-go, sarama, kafka-go)
// run in this test binary started again as a helper process
// (TestE2EGroupsMemberProcess); librdkafka runs as
// testdata/groups_confluent.py and as kcat -G. Each member reports, one
// line at a time, the partitions it is assigned and gives up and the
// records it reads; a groupWatch collects the reports, checks that no
// partition is ever owned by two live members at once, and waits for the
// group to settle as DescribeGroups and Lag show it.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupMemberEnv carries a memberSpec to a helper process.
const groupMemberEnv = "GREGOR_E2E_GROUP_MEMBER"

// memberSpec describes one Go group member to run in a helper process.
type memberSpec struct {
	Client   string // franz, sarama, kafkago
	Addr     string
	Group    string
	Topic    string
	Balancer string // range, roundrobin, cooperative-sticky
	Instance string // group.instance.id, "" for a dynamic member
	Name     string // client id
}

// memberEvent is one line a member reports.
type memberEvent struct {
	Ev    string  `json:"ev"`              // ready, assigned, revoked, rec, error, closed
	Parts []int32 `json:"parts,omitempty"` // assigned, revoked: the partitions added or taken away
	Gen   int32   `json:"gen,omitempty"`   // assigned (franz-go, sarama): the generation
	P     int32   `json:"p"`               // rec
	O     int64   `json:"o"`
	V     string  `json:"v,omitempty"`
	Msg   string  `json:"msg,omitempty"` // error
}

// TestE2EGroupsMemberProcess is the body of the Go group member processes
// the group tests start: it does nothing unless run as one (with
// GREGOR_E2E_GROUP_MEMBER set), and then consumes until SIGTERM, reporting
// events as JSON lines on stdout, and exits without returning.
func TestE2EGroupsMemberProcess(t *testing.T) {
	raw := os.Getenv(groupMemberEnv)
	if raw == "" {
		return
	}
	var spec memberSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "member spec %q: %v\n", raw, err)
		os.Exit(2)
	}
	out := &eventWriter{w: os.Stdout}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		// The test holds our stdin open: EOF means it is gone, so stop
		// as on SIGTERM rather than outlive it.
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	var err error
	switch spec.Client {
	case "franz":
		err = runFranzMember(ctx, spec, out)
	case "sarama":
		err = runSaramaMember(ctx, spec, out)
	case "kafkago":
		err = runKafkaGoMember(ctx, spec, out)
	default:
		err = fmt.Errorf("unknown client %q", spec.Client)
	}
	if err != nil {
		out.emit(memberEvent{Ev: "error", Msg: err.Error()})
		os.Exit(1)
	}
	out.emit(memberEvent{Ev: "closed"})
	os.Exit(0)
}

// eventWriter writes events as JSON lines, one writer at a time.
type eventWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (e *eventWriter) emit(ev memberEvent) {
	b, _ := json.Marshal(ev)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Write(append(b, '\n'))
}

func runFranzMember(ctx context.Context, spec memberSpec, out *eventWriter) error {
	balancers := map[string]kgo.GroupBalancer{
		"range": kgo.RangeBalancer(), "roundrobin": kgo.RoundRobinBalancer(), "cooperative-sticky": kgo.CooperativeStickyBalancer(),
	}
	bal, ok := balancers[spec.Balancer]
	if !ok {
		return fmt.Errorf("franz-go balancer %q", spec.Balancer)
	}
	report := func(ev string) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			_, gen := cl.GroupMetadata()
			out.emit(memberEvent{Ev: ev, Parts: m[spec.Topic], Gen: gen})
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(spec.Addr), kgo.ClientID(spec.Name),
		kgo.ConsumerGroup(spec.Group), kgo.ConsumeTopics(spec.Topic), kgo.Balancers(bal),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second), kgo.AutoCommitInterval(300 * time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(300 * time.Millisecond),
		kgo.OnPartitionsAssigned(report("assigned")),
		kgo.OnPartitionsRevoked(report("revoked")),
		kgo.OnPartitionsLost(report("revoked")),
	}
	if spec.Instance != "" {
		opts = append(opts, kgo.InstanceID(spec.Instance))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	out.emit(memberEvent{Ev: "ready"})
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				out.emit(memberEvent{Ev: "error", Msg: fmt.Sprintf("fetch %s[%d]: %v", topic, p, err)})
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			out.emit(memberEvent{Ev: "rec", P: r.Partition, O: r.Offset, V: string(r.Value)})
		})
	}
	cl.Close() // commits; a dynamic member leaves the group
	return nil
}

// saramaHandler reports a sarama group session's claims and records.
type saramaHandler struct {
	topic string
	out   *eventWriter
}

func (h saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.out.emit(memberEvent{Ev: "assigned", Parts: s.Claims()[h.topic], Gen: s.GenerationID()})
	return nil
}

func (h saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.out.emit(memberEvent{Ev: "revoked", Parts: s.Claims()[h.topic], Gen: s.GenerationID()})
	return nil
}

func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.out.emit(memberEvent{Ev: "rec", P: m.Partition, O: m.Offset, V: string(m.Value)})
		s.MarkMessage(m, "")
	}
	return nil
}

func runSaramaMember(ctx context.Context, spec memberSpec, out *eventWriter) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_3_0_0 // static membership needs JoinGroup v5
	cfg.ClientID = spec.Name
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 300 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	switch spec.Balancer {
	case "range":
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	case "roundrobin":
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	default:
		return fmt.Errorf("sarama balancer %q", spec.Balancer)
	}
	if spec.Instance != "" {
		cfg.Consumer.Group.InstanceId = spec.Instance
	}
	g, err := sarama.NewConsumerGroup([]string{spec.Addr}, spec.Group, cfg)
	if err != nil {
		return err
	}
	go func() {
		for err := range g.Errors() {
			out.emit(memberEvent{Ev: "error", Msg: err.Error()})
		}
	}()
	out.emit(memberEvent{Ev: "ready"})
	for ctx.Err() == nil {
		if err := g.Consume(ctx, []string{spec.Topic}, saramaHandler{topic: spec.Topic, out: out}); err != nil && ctx.Err() == nil {
			out.emit(memberEvent{Ev: "error", Msg: "consume: " + err.Error()})
			time.Sleep(200 * time.Millisecond)
		}
	}
	return g.Close() // commits and leaves the group
}

func runKafkaGoMember(ctx context.Context, spec memberSpec, out *eventWriter) error {
	var bal kafka.GroupBalancer
	switch spec.Balancer {
	case "range":
		bal = kafka.RangeGroupBalancer{}
	case "roundrobin":
		bal = kafka.RoundRobinGroupBalancer{}
	default:
		return fmt.Errorf("kafka-go balancer %q", spec.Balancer)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{spec.Addr}, GroupID: spec.Group, Topic: spec.Topic,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 300 * time.Millisecond,
		StartOffset: kafka.FirstOffset, CommitInterval: 300 * time.Millisecond,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 500 * time.Millisecond, RebalanceTimeout: 10 * time.Second,
		GroupBalancers: []kafka.GroupBalancer{bal},
		Dialer:         &kafka.Dialer{ClientID: spec.Name, Timeout: 10 * time.Second, DualStack: true},
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) {
			if ctx.Err() == nil {
				out.emit(memberEvent{Ev: "error", Msg: fmt.Sprintf(f, a...)})
			}
		}),
	})
	out.emit(memberEvent{Ev: "ready"})
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			break // ctx cancelled by SIGTERM
		}
		out.emit(memberEvent{Ev: "rec", P: int32(m.Partition), O: m.Offset, V: string(m.Value)})
	}
	return r.Close() // commits and leaves the group
}

// groupWatch runs the members of one consumer group and collects their
// reports.
type groupWatch struct {
	t     *testing.T
	b     *brokerProc
	group string
	topic string

	mu        sync.Mutex
	owner     map[int32]string
	conflicts map[int32]conflict // a partition assigned while another live member owned it
	overlaps  []string           // conflicts not resolved within ownershipGrace
	seen      map[string]int     // record value → times read
	readBy    map[string]string  // record value → the member that last read it
	assigned  map[string]int     // member → assignment reports
	gen       map[string]int32   // member → generation of its last assignment report
	members   map[string]*memberProcess
}

type conflict struct {
	prev, next string
	at         time.Time
}

// ownershipGrace absorbs the order in which two processes' lines reach the
// test: a member reports "revoked" before rejoining, and the next owner
// reports "assigned" only after the rebalance it caused, but the two lines
// travel through different pipes.
const ownershipGrace = time.Second

type memberProcess struct {
	cmd   *exec.Cmd
	stdin io.Closer // held open while the member should run
	done  chan struct{}
	logs  *syncBuffer
}

func newGroupWatch(t *testing.T, b *brokerProc, group, topic string) *groupWatch {
	w := &groupWatch{
		t: t, b: b, group: group, topic: topic,
		owner: map[int32]string{}, conflicts: map[int32]conflict{}, seen: map[string]int{}, readBy: map[string]string{},
		assigned: map[string]int{}, gen: map[string]int32{}, members: map[string]*memberProcess{},
	}
	t.Cleanup(func() {
		w.mu.Lock()
		ms := w.members
		w.members = map[string]*memberProcess{}
		w.mu.Unlock()
		for _, m := range ms {
			_ = m.cmd.Process.Kill()
			<-m.done
			m.stdin.Close()
		}
	})
	return w
}

// event applies one report of member name.
func (w *groupWatch) event(name string, e memberEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	switch e.Ev {
	case "assigned":
		w.assigned[name]++
		w.gen[name] = e.Gen
		for _, p := range e.Parts {
			if cur, ok := w.owner[p]; ok && cur != name {
				w.conflicts[p] = conflict{prev: cur, next: name, at: now}
			}
			w.owner[p] = name
		}
	case "revoked":
		for _, p := range e.Parts {
			if c, ok := w.conflicts[p]; ok && c.prev == name {
				delete(w.conflicts, p)
				if now.Sub(c.at) > ownershipGrace {
					w.overlaps = append(w.overlaps, fmt.Sprintf("partition %d assigned to %s while %s owned it for %v more", p, c.next, name, now.Sub(c.at)))
				}
				continue
			}
			if w.owner[p] == name {
				delete(w.owner, p)
			}
		}
	case "rec":
		w.seen[e.V]++
		w.readBy[e.V] = name
	}
}

// released drops every partition a member that died owned.
func (w *groupWatch) released(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, c := range w.conflicts {
		if c.prev == name {
			delete(w.conflicts, p)
		}
	}
	for p, o := range w.owner {
		if o == name {
			delete(w.owner, p)
		}
	}
}

// checkOwnership fails the test if two live members ever owned a
// partition at once.
func (w *groupWatch) checkOwnership() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, c := range w.conflicts {
		if time.Since(c.at) > ownershipGrace {
			w.overlaps = append(w.overlaps, fmt.Sprintf("partition %d assigned to %s while %s still owns it", p, c.next, c.prev))
		}
	}
	if len(w.overlaps) > 0 {
		w.t.Fatalf("partitions owned by two members at once: %s", strings.Join(w.overlaps, "; "))
	}
}

// startProcess runs a member and feeds its output lines to parse.
func (w *groupWatch) startProcess(name string, cmd *exec.Cmd, parse func(line string, stderr bool) (memberEvent, bool)) {
	w.t.Helper()
	m := &memberProcess{cmd: cmd, done: make(chan struct{}), logs: failureLog(w.t, "member "+name)}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	m.stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	fmt.Fprintf(m.logs, "### %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("starting member %s: %v", name, err)
	}
	w.mu.Lock()
	w.members[name] = m
	w.mu.Unlock()
	var wg sync.WaitGroup
	read := func(r io.Reader, isStderr bool) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if ev, ok := parse(line, isStderr); ok {
				if ev.Ev != "rec" {
					fmt.Fprintln(m.logs, line)
				}
				w.event(name, ev)
			} else {
				fmt.Fprintln(m.logs, line)
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}
	wg.Add(2)
	go read(stdout, false)
	go read(stderr, true)
	go func() {
		wg.Wait()
		err := cmd.Wait()
		fmt.Fprintf(m.logs, "### exited: %v\n", err)
		close(m.done)
	}()
}

// jsonEvents parses the JSON lines of the Go helper and the Python script.
func jsonEvents(line string, stderr bool) (memberEvent, bool) {
	var ev memberEvent
	if stderr || !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &ev) != nil || ev.Ev == "" {
		return ev, false
	}
	return ev, true
}

// startGo starts a Go client member (franz, sarama or kafkago).
func (w *groupWatch) startGo(name, client, balancer, instance string) {
	w.t.Helper()
	spec, _ := json.Marshal(memberSpec{Client: client, Addr: w.b.Addr, Group: w.group, Topic: w.topic, Balancer: balancer, Instance: instance, Name: name})
	cmd := exec.Command(os.Args[0], "-test.run=^TestE2EGroupsMemberProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), groupMemberEnv+"="+string(spec), "GREGOR_E2E_BINARY="+gregorBin)
	w.startProcess(name, cmd, jsonEvents)
}

// startConfluent starts a librdkafka member through confluent-kafka.
func (w *groupWatch) startConfluent(name, assignor, instance string) {
	w.t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "groups_confluent.py"))
	if err != nil {
		w.t.Fatal(err)
	}
	args := []string{script, "--bootstrap", w.b.Addr, "--group", w.group, "--topic", w.topic, "--assignor", assignor, "--name", name}
	if instance != "" {
		args = append(args, "--instance", instance)
	}
	cmd := exec.Command(debianPython, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
	w.startProcess(name, cmd, jsonEvents)
}

// kcatRebalance matches kcat -G's report of a rebalance on stderr:
// "% Group g rebalanced (memberid …): assigned: topic [0], topic [3]".
var (
	kcatRebalance = regexp.MustCompile(`rebalanced \(memberid [^)]*\): (assigned|revoked): (.*)$`)
	kcatPartition = regexp.MustCompile(`\[(\d+)\]`)
)

// startKcat starts kcat -G as a member: records on stdout as "p o value",
// rebalances on stderr.
func (w *groupWatch) startKcat(kcat, name, assignor string) {
	w.t.Helper()
	cmd := exec.Command(kcat, "-b", w.b.Addr, "-G", w.group, "-u",
		"-X", "client.id="+name, "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
		"-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=300",
		"-X", "partition.assignment.strategy="+assignor,
		"-f", "%p %o %s\n", w.topic)
	w.startProcess(name, cmd, func(line string, stderr bool) (memberEvent, bool) {
		if stderr {
			m := kcatRebalance.FindStringSubmatch(line)
			if m == nil {
				return memberEvent{}, false
			}
			ev := memberEvent{Ev: m[1]}
			for _, pm := range kcatPartition.FindAllStringSubmatch(m[2], -1) {
				p, _ := strconv.Atoi(pm[1])
				ev.Parts = append(ev.Parts, int32(p))
			}
			return ev, true
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			return memberEvent{}, false
		}
		p, err1 := strconv.Atoi(f[0])
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return memberEvent{}, false
		}
		return memberEvent{Ev: "rec", P: int32(p), O: o, V: f[2]}, true
	})
}

// stop sends SIGTERM: the member commits and leaves (a static member only
// commits) and exits.
func (w *groupWatch) stop(name string) {
	w.t.Helper()
	m := w.take(name)
	defer m.stdin.Close()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
		w.t.Fatalf("member %s did not exit within 20s of SIGTERM", name)
	}
	w.released(name)
}

// kill sends SIGKILL: the member vanishes without leaving; the coordinator
// notices when its session times out.
func (w *groupWatch) kill(name string) {
	w.t.Helper()
	m := w.take(name)
	_ = m.cmd.Process.Kill()
	<-m.done
	m.stdin.Close()
	w.released(name)
}

func (w *groupWatch) take(name string) *memberProcess {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.members[name]
	if m == nil {
		w.t.Fatalf("no member %s", name)
	}
	delete(w.members, name)
	return m
}

// produce writes n records "<tag>-<i>" round-robin over the partitions.
func (w *groupWatch) produce(ctx context.Context, tag string, n int) []string {
	w.t.Helper()
	cl := newKgo(w.t, w.b.Addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	defer cl.Close()
	values := make([]string, n)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		values[i] = fmt.Sprintf("%s-%04d", tag, i)
		recs[i] = &kgo.Record{Topic: w.topic, Value: []byte(values[i])}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		w.t.Fatalf("producing to %s: %v", w.topic, err)
	}
	return values
}

// waitSeen waits until every value has been read by some member.
func (w *groupWatch) waitSeen(values []string, timeout time.Duration) {
	w.t.Helper()
	checkFor(w.t, timeout, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		var missing []string
		for _, v := range values {
			if w.seen[v] == 0 {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d records not read yet (first %s)", len(missing), len(values), missing[0])
		}
		return nil
	})
}

// seenCounts copies how often each value was read.
func (w *groupWatch) seenCounts() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.seen))
	for k, v := range w.seen {
		out[k] = v
	}
	return out
}

// waitSettled waits until DescribeGroups shows the group Stable with the
// given members (by client id), their assignments covering each of the
// topic's partitions exactly once, and Lag is zero (everything read is
// committed).
func (w *groupWatch) waitSettled(ctx context.Context, adm *kadm.Client, partitions int, clientIDs ...string) kadm.DescribedGroup {
	w.t.Helper()
	sort.Strings(clientIDs)
	var last kadm.DescribedGroup
	checkFor(w.t, 45*time.Second, func() error {
		ds, err := adm.DescribeGroups(ctx, w.group)
		if err != nil {
			return err
		}
		d := ds[w.group]
		last = d
		if d.Err != nil || d.State != "Stable" {
			return fmt.Errorf("group %s is %s (err %v)", w.group, d.State, d.Err)
		}
		var ids []string
		owned := map[int32]int{}
		for _, m := range d.Members {
			ids = append(ids, m.ClientID)
			a, ok := m.Assigned.AsConsumer()
			if !ok {
				return fmt.Errorf("member %s has no consumer assignment", m.MemberID)
			}
			for _, t := range a.Topics {
				for _, p := range t.Partitions {
					owned[p]++
				}
			}
		}
		sort.Strings(ids)
		if strings.Join(ids, ",") != strings.Join(clientIDs, ",") {
			return fmt.Errorf("members %v, want %v", ids, clientIDs)
		}
		for p := 0; p < partitions; p++ {
			if owned[int32(p)] != 1 {
				return fmt.Errorf("partition %d assigned %d times (%v)", p, owned[int32(p)], owned)
			}
		}
		return w.lagZero(ctx, adm)
	})
	return last
}

// lagZero reports an error unless every partition's committed offset is
// its end offset.
func (w *groupWatch) lagZero(ctx context.Context, adm *kadm.Client) error {
	lags, err := adm.Lag(ctx, w.group)
	if err != nil {
		return err
	}
	gl := lags[w.group]
	if err := gl.Error(); err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(ctx, w.topic)
	if err != nil {
		return err
	}
	for _, e := range ends[w.topic] {
		l, ok := gl.Lag.Lookup(w.topic, e.Partition)
		switch {
		case e.Offset == 0:
		case !ok || l.Commit.At < 0:
			return fmt.Errorf("partition %d: nothing committed, end %d", e.Partition, e.Offset)
		case l.Commit.At != e.Offset:
			return fmt.Errorf("partition %d: committed %d, end %d", e.Partition, l.Commit.At, e.Offset)
		}
	}
	return nil
}

// groupClient starts members of one client library.
type groupClient struct {
	start  func(w *groupWatch, name string) // a dynamic member
	owners bool                             // the client reports its assignments
}

// runGroupScenario is what every client goes through: three members share
// six partitions and read everything; one leaves cleanly, one joins, one
// is SIGKILLed (its partitions move after its session timeout); no
// partition is owned twice at once. Then the group is stopped, the broker
// restarted, and a new member reads only the records produced after the
// last commit.
func runGroupScenario(t *testing.T, c groupClient) {
	b := startBroker(t, withSet("group.initial.rebalance.delay.ms=0"))
	ctx := testContext(t, 4*time.Minute)
	adm := newAdmin(t, b.Addr)
	topic := topicName(t, "")
	const partitions = 6
	createTopic(t, ctx, adm, topic, partitions, nil)
	w := newGroupWatch(t, b, "group-"+topic, topic)

	first := w.produce(ctx, "a", 300)
	for _, m := range []string{"m1", "m2", "m3"} {
		c.start(w, m)
	}
	w.waitSeen(first, 45*time.Second)
	w.waitSettled(ctx, adm, partitions, "m1", "m2", "m3")

	w.stop("m3") // leaves cleanly
	w.waitSettled(ctx, adm, partitions, "m1", "m2")
	w.waitSeen(w.produce(ctx, "b", 120), 45*time.Second)

	c.start(w, "m4") // joins
	w.waitSettled(ctx, adm, partitions, "m1", "m2", "m4")
	w.waitSeen(w.produce(ctx, "c", 120), 45*time.Second)

	w.kill("m2") // vanishes: its session (6 s) times out
	w.waitSeen(w.produce(ctx, "d", 120), 45*time.Second)
	w.waitSettled(ctx, adm, partitions, "m1", "m4")
	if c.owners {
		w.checkOwnership()
	}

	// Commits survive a broker restart: a new member reads only what was
	// produced after them.
	w.stop("m1")
	w.stop("m4")
	checkFor(t, 20*time.Second, func() error { return w.lagZero(ctx, adm) })
	b.Stop()
	b = b.restart(t, withSet("group.initial.rebalance.delay.ms=0"))
	w.b = b
	adm = newAdmin(t, b.Addr)
	ds, err := adm.DescribeGroups(ctx, w.group)
	if err != nil || ds[w.group].State != "Empty" {
		t.Fatalf("after the restart the group is %+v (%v), want Empty", ds[w.group], err)
	}
	if err := w.lagZero(ctx, adm); err != nil {
		t.Fatalf("committed offsets lost in the restart: %v", err)
	}
	before := w.seenCounts()
	last := w.produce(ctx, "e", 60)
	c.start(w, "m5")
	w.waitSeen(last, 45*time.Second)
	w.waitSettled(ctx, adm, partitions, "m5")
	for v, n := range w.seenCounts() {
		if strings.HasPrefix(v, "e-") {
			continue
		}
		if n != before[v] {
			t.Fatalf("after the restart the new member read %s again: the group's commits were not used", v)
		}
	}
	w.stop("m5")
	b.assertRunning(t)
}
