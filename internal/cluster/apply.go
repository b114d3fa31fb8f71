package cluster

// The metadata applier: after committed changes it makes this broker's
// local state match the newest image, on its own goroutine: Raft's FSM only
// publishes each image and wakes it, so a burst of entries (the log replayed
// at start, say) is applied as one step to the newest image, not entry by
// entry through every historical leader epoch. It makes local state match
// the image: topics and the replicas it holds, each one leader or follower at
// the image's leader epoch, fetchers following the right leader, and the
// group coordinator elected for the __consumer_offsets partitions led here.
// Until this process's own registration is in the image (unfenced), it
// leads nothing: a restarted broker must not act on leaderships it held
// before it crashed.

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/partition"
)

// GroupElector is the group coordinator's side of leadership changes.
type GroupElector interface {
	Elect(p int32) error
	Resign(p int32)
}

type tpKey struct {
	topic string
	index int32
}

// role is what the applier last made of a local replica.
type role struct {
	leader      int32 // -1: none (or not yet registered)
	leaderEpoch int32
	isr         []int32
}

type leadingPartition struct {
	topic string
	index int32
	p     *partition.Partition
}

type applier struct {
	n *Node

	wake    chan struct{} // buffered 1: a newer image is committed
	stop    chan struct{}
	done    chan struct{}
	applied atomic.Pointer[controller.Image] // the image local state matches
	chMu    sync.Mutex
	changed chan struct{} // closed and replaced when applied moves

	mu    sync.Mutex // guards everything below; held while applying
	roles map[tpKey]role
	ids   map[string][16]byte // topic ids applied
	// seen is the image's topic each topic was last applied from, when
	// every local replica reached its role: an image shares the *Topic of
	// every topic its entry left alone, so a pass skips those and costs
	// what the entry changed, not every partition of the cluster (an ISR
	// change is one entry; a broker catching up after a restart makes
	// thousands). seenRegistered is the registration it was applied under.
	seen           map[string]*controller.Topic
	seenRegistered bool
	groups         GroupElector
	elected        map[int32]bool // offsets partitions whose coordinator runs here
	closed         bool
}

func newApplier(n *Node) *applier {
	a := &applier{n: n, roles: map[tpKey]role{}, ids: map[string][16]byte{}, seen: map[string]*controller.Topic{}, elected: map[int32]bool{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), changed: make(chan struct{})}
	a.applied.Store(controller.NewImage())
	return a
}

// kick asks for the newest committed image to be applied (non-blocking; the
// FSM calls it after every entry).
func (a *applier) kick() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run applies the newest committed image whenever it changes, until stop.
func (a *applier) run() {
	defer close(a.done)
	for {
		select {
		case <-a.stop:
			return
		case <-a.wake:
		}
		img := a.n.committed()
		a.apply(img)
		a.applied.Store(img)
		a.chMu.Lock()
		close(a.changed)
		a.changed = make(chan struct{})
		a.chMu.Unlock()
	}
}

// appliedChange returns a channel closed when the applied image next moves.
func (a *applier) appliedChange() <-chan struct{} {
	a.chMu.Lock()
	defer a.chMu.Unlock()
	return a.changed
}

// SetGroupCoordinator attaches the group coordinator, electing it for the
// __consumer_offsets partitions this broker leads now and later.
func (n *Node) SetGroupCoordinator(g GroupElector) {
	a := n.apply
	a.mu.Lock()
	defer a.mu.Unlock()
	a.groups = g
	for k, r := range a.roles {
		if k.topic == broker.OffsetsTopic && r.leader == n.id && !a.elected[k.index] {
			a.electGroups(k.index, true)
		}
	}
}

func (a *applier) close() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
}

// leading lists the local replicas this broker leads.
func (a *applier) leading() []leadingPartition {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []leadingPartition
	for k, r := range a.roles {
		if r.leader == a.n.id {
			if p := a.n.b.LocalPartition(k.topic, k.index); p != nil {
				out = append(out, leadingPartition{k.topic, k.index, p})
			}
		}
	}
	return out
}

func (a *applier) apply(img *controller.Image) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	n := a.n
	registered := n.registered(img) && !n.shutdown.Load()
	if err := n.b.ApplyBrokerConfigs(img.BrokerConfigs[""], img.BrokerConfigs[strconv.Itoa(int(n.id))]); err != nil {
		n.logger.Error("applying dynamic broker configs", "err", err)
	}
	for name, id := range a.ids {
		if t, ok := img.Topics[name]; !ok || t.ID != id {
			a.removeTopic(name)
		}
	}
	if registered != a.seenRegistered {
		clear(a.seen) // every replica's wanted role may change
		a.seenRegistered = registered
	}
	for _, name := range img.TopicNames() {
		t := img.Topics[name]
		if a.seen[name] == t {
			continue
		}
		delete(a.seen, name)
		settled := true
		err := n.b.ApplyTopic(broker.TopicState{
			Name: name, ID: t.ID, Configs: t.Configs, Partitions: int32(len(t.Partitions)),
			Local: func(i int32) bool { return t.Partitions[i].IsReplica(n.id) },
		})
		if err != nil {
			n.logger.Error("applying a topic", "topic", name, "err", err)
		}
		a.ids[name] = t.ID
		for i, st := range t.Partitions {
			key := tpKey{name, int32(i)}
			if !st.IsReplica(n.id) {
				if _, ok := a.roles[key]; ok {
					n.repl.Stop(name, int32(i))
					delete(a.roles, key)
				}
				continue
			}
			p := n.b.LocalPartition(name, int32(i))
			if p == nil {
				continue
			}
			want := role{leader: st.Leader, leaderEpoch: st.LeaderEpoch, isr: st.ISR}
			if !registered {
				// Fenced: lead nothing, follow nobody. While the log is
				// replayed at start the image's epochs may be older than
				// the replica's own.
				want.leader = -1
				want.leaderEpoch = max(want.leaderEpoch, p.LeaderEpoch())
			}
			if !a.setRole(key, p, want, st) {
				settled = false // try again at the next pass
			}
		}
		if settled {
			a.seen[name] = t
		}
	}
}

// setRole moves one local replica to the wanted role.
// It reports false if the replica could not take the role.
func (a *applier) setRole(key tpKey, p *partition.Partition, want role, st controller.Partition) bool {
	n := a.n
	cur, known := a.roles[key]
	if known && cur.leader == want.leader && cur.leaderEpoch == want.leaderEpoch && slices.Equal(cur.isr, want.isr) {
		return true
	}
	var err error
	sameLeadership := known && cur.leader == want.leader && cur.leaderEpoch == want.leaderEpoch
	switch {
	case want.leader == n.id && sameLeadership:
		p.SetISR(want.isr)
	case want.leader == n.id:
		n.repl.Stop(key.topic, key.index)
		err = p.BecomeLeader(want.leaderEpoch, st.Replicas, st.ISR)
		if err == nil {
			n.logger.Info("leading partition", "topic", key.topic, "partition", key.index, "leaderEpoch", want.leaderEpoch, "isr", st.ISR)
		}
	default:
		err = p.BecomeFollower(want.leaderEpoch, want.leader)
		if err == nil {
			// A damaged follower truncates only once out of the ISR
			// (partition/scrub.go): it needs to know the ISR.
			p.SetISR(want.isr)
		}
		if err == nil && want.leader >= 0 {
			n.repl.Follow(key.topic, key.index, p, want.leader, want.leaderEpoch)
		} else {
			n.repl.Stop(key.topic, key.index)
		}
	}
	if err != nil {
		n.logger.Error("changing a replica's role", "topic", key.topic, "partition", key.index, "leader", want.leader, "leaderEpoch", want.leaderEpoch, "err", err)
		return false
	}
	a.roles[key] = role{leader: want.leader, leaderEpoch: want.leaderEpoch, isr: slices.Clone(want.isr)}
	// Only a leadership change moves the groups: reloading a shard on an
	// ISR change would race the commits it is serving.
	if key.topic == broker.OffsetsTopic && a.groups != nil && !sameLeadership {
		a.electGroups(key.index, want.leader == n.id)
	}
	return true
}

// electGroups starts or stops coordinating the groups of an offsets
// partition at a leadership change (a new leader epoch while leading again
// reloads the shard: the log may have changed meanwhile). Loading a shard
// reads its log, so it runs off the applier.
func (a *applier) electGroups(index int32, lead bool) {
	g := a.groups
	if !lead {
		if a.elected[index] {
			g.Resign(index)
		}
		delete(a.elected, index)
		return
	}
	a.elected[index] = true
	go func() {
		if err := g.Elect(index); err != nil {
			a.n.logger.Error("group coordinator election", "partition", index, "err", err)
		}
	}()
}

func (a *applier) removeTopic(name string) {
	for k := range a.roles {
		if k.topic == name {
			a.n.repl.Stop(k.topic, k.index)
			delete(a.roles, k)
			if name == broker.OffsetsTopic && a.groups != nil && a.elected[k.index] {
				a.groups.Resign(k.index)
				delete(a.elected, k.index)
			}
		}
	}
	delete(a.ids, name)
	delete(a.seen, name)
	a.n.b.RemoveTopic(name)
}
