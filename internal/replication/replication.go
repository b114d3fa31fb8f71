// Package replication runs follower fetchers: for every partition this
// broker follows, it copies the leader's log into the local replica the way
// Kafka's ReplicaFetcherThread does.
//
// One fetcher goroutine per leader broker fetches all partitions followed
// from that leader in one Fetch request (a full fetch: no sessions), with
// this broker's id as the replica id, so the leader learns each follower's
// log end offset from the fetch offset. Before the first fetch after Follow
// (a new leader or leader epoch) a partition's log is truncated to where it
// agrees with the leader's, found with OffsetForLeaderEpoch (KIP-101,
// KIP-279; see truncate.go), so that logs never diverge. A partition
// added while its fetcher is long-polling joins the next round (at most
// MaxWait later); Stop and Close do not wait for the poll (they cancel it
// when the fetcher has nothing left).
//
// Invariants:
//   - A Replica is called by at most one goroutine at a time, and never
//     after Stop (or Close) returned: every call happens under the
//     follower's callMu with its removed flag checked.
//   - A follower value belongs to one fetcher for its whole life; Follow
//     with a new leader or epoch retires it and creates a new one, so
//     per-partition fetch state needs no lock (the fetcher goroutine owns
//     it).
//   - No RPC is made while holding a lock that Stop, Follow or Close wait
//     for: they never wait for a long poll.
//
// Lock order: Manager.opMu → follower.callMu, and Manager.opMu → Manager.mu;
// Manager.mu and follower.callMu are never held together.
package replication

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-dev/gregor/internal/wire"
)

// Replica is a local follower replica of a partition.
type Replica interface {
	LogEndOffset() int64
	LogStartOffset() int64
	// LatestEpoch is the newest leader epoch in the local log; false when
	// the log holds no epochs.
	LatestEpoch() (int32, bool)
	// EndOffsetForEpoch answers OffsetForLeaderEpoch on the local log:
	// the largest epoch at or below epoch and where it ends, or (-1, -1).
	EndOffsetForEpoch(epoch int32) (int32, int64)
	// AppendReplica appends the leader's batches (whole batches, offsets
	// as assigned by the leader, possibly none) and takes the leader's
	// high watermark and log start offset. batches is valid only during
	// the call (the fetcher reads the next response into the same
	// buffer): it must not be kept.
	AppendReplica(batches []byte, leaderHW, leaderLogStart int64) error
	// TruncateTo removes everything at and above offset.
	TruncateTo(offset int64) error
	// TruncateFullyAndStartAt empties the log and restarts it at offset.
	TruncateFullyAndStartAt(offset int64) error
}

// Options configure a Manager; zero values take Kafka's defaults.
type Options struct {
	NodeID            int32
	Pool              *wire.Pool    // resolves leader broker id -> address; best not shared with short RPCs (long polls hold its Conn)
	MaxWait           time.Duration // replica.fetch.wait.max.ms (500ms)
	MinBytes          int32         // replica.fetch.min.bytes (1)
	MaxBytes          int32         // replica.fetch.response.max.bytes (10 MiB)
	PartitionMaxBytes int32         // replica.fetch.max.bytes (1 MiB)
	Backoff           time.Duration // replica.fetch.backoff.ms (1s)
	// RequestTimeout bounds one RPC beyond MaxWait (replica.socket.timeout.ms, 30s).
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxWait <= 0 {
		o.MaxWait = 500 * time.Millisecond
	}
	if o.MinBytes <= 0 {
		o.MinBytes = 1
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 10 << 20
	}
	if o.PartitionMaxBytes <= 0 {
		o.PartitionMaxBytes = 1 << 20
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

type tp struct {
	topic string
	index int32
}

func (k tp) String() string { return fmt.Sprintf("%s-%d", k.topic, k.index) }

// Manager runs the fetchers of one broker.
type Manager struct {
	o      Options
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetcher goroutines

	opMu sync.Mutex // serializes Follow, Stop and Close

	mu       sync.Mutex // guards parts, fetchers, closed and fetcher.parts
	parts    map[tp]*follower
	fetchers map[int32]*fetcher
	closed   bool
}

// New returns a Manager; it starts fetchers as partitions are followed.
func New(o Options) *Manager {
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{o: o, ctx: ctx, cancel: cancel, parts: map[tp]*follower{}, fetchers: map[int32]*fetcher{}}
}

// Follow makes the partition's replica r follow leader in leaderEpoch. A
// new leader, epoch or replica starts over (truncation first); the same
// ones again change nothing, so a partition parked by a fenced epoch stays
// parked until a newer epoch comes.
func (m *Manager) Follow(topic string, index int32, r Replica, leader, leaderEpoch int32) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	k := tp{topic, index}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	old := m.parts[k]
	if old != nil && old.leader == leader && old.epoch == leaderEpoch && old.r == r {
		m.mu.Unlock()
		return
	}
	if old != nil {
		m.removeLocked(old)
	}
	m.mu.Unlock()
	if old != nil {
		old.fence() // the old fetcher may be inside a call to r
	}

	f := newFollower(k, r, leader, leaderEpoch)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.parts[k] = f
	ft := m.fetchers[leader]
	if ft == nil {
		ft = m.newFetcherLocked(leader)
	}
	ft.parts[k] = f
	ft.poke()
	m.o.Logger.Debug("replication: following", "partition", k, "leader", leader, "epoch", leaderEpoch)
}

// Stop ends following the partition. When it returns, no goroutine calls
// its Replica any more.
func (m *Manager) Stop(topic string, index int32) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	f := m.parts[tp{topic, index}]
	if f != nil {
		m.removeLocked(f)
	}
	m.mu.Unlock()
	if f != nil {
		f.fence()
	}
}

// removeLocked unlinks f; its fetcher stops when it has nothing left.
func (m *Manager) removeLocked(f *follower) {
	delete(m.parts, f.tp)
	ft := m.fetchers[f.leader]
	if ft == nil {
		return
	}
	delete(ft.parts, f.tp)
	if len(ft.parts) == 0 {
		delete(m.fetchers, f.leader)
		ft.cancel() // interrupts a long poll
	}
}

// Lag is each followed partition's distance ("topic-index" → messages) to
// the leader's high watermark as of its last fetch.
func (m *Manager) Lag() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.parts))
	for k, f := range m.parts {
		out[k.String()] = f.lag.Load()
	}
	return out
}

// Close stops all fetchers and waits for them.
func (m *Manager) Close() {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	m.closed = true
	parts := m.parts
	m.parts = map[tp]*follower{}
	m.fetchers = map[int32]*fetcher{}
	m.mu.Unlock()
	m.cancel()
	for _, f := range parts {
		f.fence()
	}
	m.wg.Wait()
}

// fetch states of a follower
type fstate int

const (
	stateTruncate     fstate = iota // ask the leader where our logs agree
	stateFetch                      // fetch from the local log end
	stateListEarliest               // out of range: ask the leader's log start
	stateListLatest                 // leader had no epoch answer: ask its high watermark
	stateParked                     // fenced: wait for Follow with a newer epoch
)

// follower is one followed partition under one leader and epoch.
type follower struct {
	tp
	r             Replica
	leader, epoch int32

	callMu  sync.Mutex // held around every call to r
	removed bool       // guarded by callMu

	lag       atomic.Int64
	published atomic.Int32 // copy of state for other goroutines (tests, introspection)
	backoffs  atomic.Int64 // times delayed after a failed or refused request (introspection)

	// Owned by the fetcher goroutine.
	state       fstate
	delayUntil  time.Time
	outOfRange  int    // consecutive OFFSET_OUT_OF_RANGE answers
	announcing  bool   // the fetch in flight shows the leader our damage (Repairer)
	lastProblem string // last logged problem, to log each once
}

func newFollower(k tp, r Replica, leader, epoch int32) *follower {
	return &follower{tp: k, r: r, leader: leader, epoch: epoch, state: stateTruncate}
}

// delay holds the follower back until until (the fetcher's goroutine only).
func (f *follower) delay(until time.Time) {
	f.delayUntil = until
	f.backoffs.Add(1)
}

func (f *follower) setState(s fstate) {
	f.state = s
	f.published.Store(int32(s))
}

// call runs fn on the replica unless the follower was removed.
func (f *follower) call(fn func(r Replica) error) (removed bool, err error) {
	f.callMu.Lock()
	defer f.callMu.Unlock()
	if f.removed {
		return true, nil
	}
	return false, fn(f.r)
}

// fence waits out a call in progress and forbids later ones.
func (f *follower) fence() {
	f.callMu.Lock()
	f.removed = true
	f.callMu.Unlock()
}

func (f *follower) isRemoved() bool {
	f.callMu.Lock()
	defer f.callMu.Unlock()
	return f.removed
}
