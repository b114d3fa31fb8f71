package group

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record"
)

// manualClock is a Clock that moves only when told.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// memLog is an in-memory partition log. failWith makes appends fail,
// ackErr their acknowledgements; hold keeps an acknowledgement back.
type memLog struct {
	mu       sync.Mutex
	batches  [][]byte
	next     int64
	failWith error
	ackErr   error
	holds    []*hold // for the next appends, in order
	waits    int     // acknowledgements being waited for
}

// hold keeps the acknowledgement of one append back until released.
type hold struct {
	waiting  chan struct{} // closed once the writer waits for it
	released chan struct{}
	once     sync.Once
}

// hold makes the acknowledgement of the next append not held yet wait
// for h.release (or the waiter's context).
func (l *memLog) hold() *hold {
	h := &hold{waiting: make(chan struct{}), released: make(chan struct{})}
	l.mu.Lock()
	l.holds = append(l.holds, h)
	l.mu.Unlock()
	return h
}

func (h *hold) release() { h.once.Do(func() { close(h.released) }) }

// waitsNow is how many acknowledgements are being waited for.
func (l *memLog) waitsNow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waits
}

func (l *memLog) Append(batch []byte) (int64, Ack, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failWith != nil {
		return -1, nil, l.failWith
	}
	h, err := record.Validate(batch)
	if err != nil {
		return -1, nil, err
	}
	b := append([]byte(nil), batch...)
	record.SetBaseOffset(b, l.next)
	base := l.next
	l.next += int64(h.NumRecords)
	l.batches = append(l.batches, b)
	ack := &memAck{l: l, err: l.ackErr}
	if len(l.holds) > 0 {
		ack.hold, l.holds = l.holds[0], l.holds[1:]
	}
	return base, ack, nil
}

// memAck is a memLog append's acknowledgement: err, at once unless held.
type memAck struct {
	l    *memLog
	hold *hold
	err  error
}

func (a *memAck) Wait(ctx context.Context) error {
	if a.hold == nil {
		return a.err
	}
	a.l.mu.Lock()
	a.l.waits++
	a.l.mu.Unlock()
	defer func() {
		a.l.mu.Lock()
		a.l.waits--
		a.l.mu.Unlock()
	}()
	close(a.hold.waiting)
	select {
	case <-a.hold.released:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *memLog) Read(from int64, maxBytes int32, dst []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches {
		h, _ := record.ReadHeader(b)
		if h.LastOffset() < from {
			continue
		}
		if len(dst) > 0 && len(dst)+len(b) > int(maxBytes) {
			break
		}
		dst = append(dst, b...)
	}
	return dst, nil
}

func (l *memLog) StartOffset() int64 { return 0 }

func (l *memLog) EndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// records decodes every record of the log, in order.
func (l *memLog) records(t *testing.T) []keyValue {
	t.Helper()
	buf, _ := l.Read(0, 1<<30, nil)
	var out []keyValue
	if _, err := eachRecord(buf, 0, func(k, v []byte) { out = append(out, keyValue{k, v}) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// memStore is a Store of memLogs that survives coordinator restarts.
type memStore struct {
	mu      sync.Mutex
	logs    []*memLog
	created int
}

func (s *memStore) Partitions() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int32(len(s.logs))
}

func (s *memStore) Create(n int32) (int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.logs) == 0 {
		s.created++
		for i := int32(0); i < n; i++ {
			s.logs = append(s.logs, &memLog{})
		}
	}
	return int32(len(s.logs)), nil
}

func (s *memStore) Log(i int32) (Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if int(i) >= len(s.logs) {
		return nil, ErrLogUnavailable
	}
	return s.logs[i], nil
}

// logOf is the memLog holding group id.
func (s *memStore) logOf(id string) *memLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs[PartitionFor(id, int32(len(s.logs)))]
}

// testCoord is a coordinator on a memStore driven by a manual clock.
type testCoord struct {
	t     *testing.T
	c     *Coordinator
	clock *manualClock
	store *memStore
	cfg   Config
}

func testConfig() Config {
	return Config{
		Partitions:             4,
		InitialRebalanceDelay:  0,
		MinSessionTimeout:      6 * time.Second,
		MaxSessionTimeout:      30 * time.Minute,
		MaxSize:                1000,
		OffsetsRetention:       7 * 24 * time.Hour,
		RetentionCheckInterval: 10 * time.Minute,
		MaxMetadataBytes:       4096,
	}
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func newTestCoord(t *testing.T, edit func(*Config)) *testCoord {
	t.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	tc := &testCoord{t: t, clock: &manualClock{now: time.UnixMilli(1_700_000_000_000)}, store: &memStore{}, cfg: cfg}
	tc.open()
	return tc
}

func (tc *testCoord) open() {
	tc.t.Helper()
	seed := rand.NewChaCha8([32]byte{byte(tc.store.created), 1})
	tc.c = New(tc.cfg, tc.store, Options{Clock: tc.clock, Logger: discard, Random: seed, SelfElect: true})
	if err := tc.c.Load(); err != nil {
		tc.t.Fatalf("Load: %v", err)
	}
	tc.t.Cleanup(tc.c.Close)
}

// restart closes the coordinator and opens a new one on the same logs, as
// a broker restart does.
func (tc *testCoord) restart() {
	tc.t.Helper()
	tc.c.Close()
	tc.open()
}

// advance moves the clock and runs the deadline checks.
func (tc *testCoord) advance(d time.Duration) {
	tc.clock.advance(d)
	tc.c.Tick()
}

// consumerMeta is a consumer protocol subscription to topics.
func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

// joinReq is a v9-style JoinGroup of a consumer subscribed to topics with
// the "range" protocol.
func joinReq(group, memberID string, topics ...string) JoinRequest {
	return JoinRequest{
		Group: group, MemberID: memberID, ClientID: "client", ClientHost: "/127.0.0.1",
		SessionTimeoutMs: 10_000, RebalanceTimeoutMs: 30_000, ProtocolType: "consumer",
		Protocols: []Protocol{{Name: "range", Metadata: consumerMeta(topics...)}},
	}
}

// done returns a future's answer, failing if it has none yet.
func done[T any](t *testing.T, f *Future[T]) T {
	t.Helper()
	v, ok := f.Result()
	if !ok {
		t.Fatalf("%T has no answer yet", f)
	}
	return v
}

// waiting fails if the future already has an answer.
func waiting[T any](t *testing.T, f *Future[T]) {
	t.Helper()
	if v, ok := f.Result(); ok {
		t.Fatalf("%T answered early: %+v", f, v)
	}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Fatalf("%s: error %v, want %v", what, got, want)
	}
}

// member is one member of a test group as the client sees it.
type testMember struct {
	id         string
	generation int32
	leader     string
	members    []JoinedMember
}

// joinNew makes a first join without KIP-394 and returns the future.
func (tc *testCoord) joinNew(group string, topics ...string) *Future[JoinResult] {
	return tc.c.JoinGroup(joinReq(group, "", topics...))
}

// mustJoin waits for the answer of a join, failing on an error.
func mustJoin(t *testing.T, f *Future[JoinResult]) testMember {
	t.Helper()
	r := done(t, f)
	if r.Err != nil {
		t.Fatalf("join: %v", r.Err)
	}
	return testMember{id: r.MemberID, generation: r.Generation, leader: r.Leader, members: r.Members}
}

// sync sends a SyncGroup for m (with assignments if it is the leader).
func (tc *testCoord) sync(group string, m testMember, assignments map[string][]byte) *Future[SyncResult] {
	return tc.c.SyncGroup(SyncRequest{Group: group, Generation: m.generation, MemberID: m.id, Assignments: assignments})
}

// stableGroup forms a group of n dynamic members subscribed to topics, the
// way clients do: each new member's join starts a rebalance that the
// current members join again; then every member syncs, with assignment
// "a-<i>" for member i. It returns the members in joining order.
func (tc *testCoord) stableGroup(group string, n int, topics ...string) []testMember {
	tc.t.Helper()
	var ms []testMember
	for i := 0; i < n; i++ {
		fNew := tc.joinNew(group, topics...)
		var fs []*Future[JoinResult]
		for _, m := range ms {
			fs = append(fs, tc.c.JoinGroup(joinReq(group, m.id, topics...)))
		}
		fs = append(fs, fNew)
		ms = ms[:0]
		for _, f := range fs {
			ms = append(ms, mustJoin(tc.t, f))
		}
	}
	return tc.syncAll(group, ms)
}

// rejoinAll makes every member join again and returns the new answers.
func (tc *testCoord) rejoinAll(group string, ms []testMember, topics ...string) []testMember {
	tc.t.Helper()
	var fs []*Future[JoinResult]
	for _, m := range ms {
		fs = append(fs, tc.c.JoinGroup(joinReq(group, m.id, topics...)))
	}
	out := make([]testMember, len(ms))
	for i, f := range fs {
		out[i] = mustJoin(tc.t, f)
	}
	return out
}

// syncAll syncs every member, the leader last, with assignment "a-<i>".
func (tc *testCoord) syncAll(group string, ms []testMember) []testMember {
	tc.t.Helper()
	assign := map[string][]byte{}
	for i, m := range ms {
		assign[m.id] = []byte{'a', '-', byte('0' + i)}
	}
	var fs []*Future[SyncResult]
	var leader testMember
	for _, m := range ms {
		if m.id == m.leader {
			leader = m
			continue
		}
		f := tc.sync(group, m, nil)
		waiting(tc.t, f)
		fs = append(fs, f)
	}
	if leader.id == "" {
		tc.t.Fatalf("no leader among %+v", ms)
	}
	fs = append(fs, tc.sync(group, leader, assign))
	for _, f := range fs {
		if r := done(tc.t, f); r.Err != nil {
			tc.t.Fatalf("sync: %v", r.Err)
		}
	}
	return ms
}
