package group

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"time"
)

// state is a classic group's state.
type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

// String is the state's name as Kafka reports it (DescribeGroups,
// ListGroups).
func (s state) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	}
	return "Dead"
}

// consumerProtocolType is the protocol type of Kafka consumers, whose
// subscriptions the coordinator can read.
const consumerProtocolType = "consumer"

// newMemberJoinTimeout bounds how long a new member's JoinGroup may wait in
// a rebalance that does not complete: Kafka's NewMemberJoinTimeoutMs.
const newMemberJoinTimeout = 5 * time.Minute

// member is one member of a group.
type member struct {
	id                 string
	instanceID         *string // static membership (KIP-345)
	clientID           string
	clientHost         string
	sessionTimeoutMs   int32
	rebalanceTimeoutMs int32
	protocolType       string
	protocols          []Protocol // in the member's order of preference
	assignment         []byte
	isNew              bool // joined in the current rebalance, not yet answered

	join *Future[JoinResult] // non-nil while a JoinGroup waits
	sync *Future[SyncResult] // non-nil while a SyncGroup waits

	// deadline is when the member's session expires unless it is awaiting
	// a join or sync answer (then the rebalance timeouts bound it); new
	// members awaiting a join expire at it regardless.
	deadline time.Time
}

func (m *member) awaitingJoin() bool { return m.join != nil }
func (m *member) awaitingSync() bool { return m.sync != nil }

// metadata is the member's metadata for protocol name (nil if it does not
// support it).
func (m *member) metadata(name string) []byte {
	for _, p := range m.protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols are the member's current ones, in the
// same order with the same metadata.
func (m *member) matches(protocols []Protocol) bool {
	return slices.EqualFunc(m.protocols, protocols, func(a, b Protocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

// vote is the member's most preferred protocol among candidates.
func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.Name] {
			return p.Name
		}
	}
	return ""
}

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}

// offsetEntry is one committed offset.
type offsetEntry struct {
	offset      int64
	leaderEpoch int32 // -1: unknown
	metadata    string
	commitTime  int64 // ms
	expireTime  int64 // ms, -1 unless the commit set a retention (v2-v4)
	// logOffset is where the record is in the log (-1 if loaded: every
	// record loaded precedes every record appended since), which orders
	// commits acknowledged out of order.
	logOffset int64
}

// pendingCommit tracks the commits of one partition that are in the log
// but not yet acknowledged (Kafka's pendingOffsetCommits).
type pendingCommit struct {
	n int // commits waiting
	// floor is the log offset of the last tombstone of the partition
	// written meanwhile (-1: none): a commit before it is not installed
	// when acknowledged, as a replay of the log would not keep it.
	floor int64
}

// group is one classic group and its committed offsets. Every field is
// guarded by the owning shard's mutex.
type group struct {
	id           string
	state        state
	stateTime    time.Time // when state was entered
	protocolType string    // "" until a member joins (or for offset-only groups)
	protocolName string    // the selected protocol, "" if none
	generation   int32
	leader       string // member id, "" if none

	members     map[string]*member
	order       []string             // member ids in joining order
	static      map[string]string    // instance id → member id
	pending     map[string]time.Time // KIP-394 pending member id → deadline
	pendingSync map[string]bool      // members yet to SyncGroup this generation
	supported   map[string]int       // protocol name → members supporting it
	awaiting    int                  // members with a JoinGroup waiting

	// subscribed is the union of the consumer members' subscribed topics,
	// known only for protocol type "consumer" (nil: unknown, treat every
	// topic as subscribed).
	subscribed map[string]bool

	// Rebalance deadlines; zero when not pending.
	joinDeadline   time.Time // PreparingRebalance: complete the join by then
	initialDelay   bool      // the join phase is Kafka's InitialDelayedJoin
	delayPhase     time.Duration
	delayRemaining time.Duration
	newMemberAdded bool
	syncDeadline   time.Time // members that have not synced by then are removed

	offsets map[topicPartition]*offsetEntry
	// pendingCommits are the partitions with commits awaiting their
	// acknowledgement; OffsetFetch does not see them until installed.
	pendingCommits map[topicPartition]*pendingCommit
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id: id, state: stateEmpty, stateTime: now,
		members: map[string]*member{}, static: map[string]string{},
		pending: map[string]time.Time{}, pendingSync: map[string]bool{},
		supported: map[string]int{}, offsets: map[topicPartition]*offsetEntry{},
		pendingCommits: map[topicPartition]*pendingCommit{},
	}
}

// holds reports whether g has an offset of tp, committed or pending.
func (g *group) holds(tp topicPartition) bool {
	return g.offsets[tp] != nil || g.pendingCommits[tp] != nil
}

// heldOffsets lists, sorted, the partitions of which g has an offset,
// committed or pending, that keep says to list.
func (g *group) heldOffsets(keep func(topicPartition) bool) []topicPartition {
	var tps []topicPartition
	for tp := range g.offsets {
		if keep(tp) {
			tps = append(tps, tp)
		}
	}
	for tp := range g.pendingCommits {
		if g.offsets[tp] == nil && keep(tp) {
			tps = append(tps, tp)
		}
	}
	sortTPs(tps)
	return tps
}

// holdsOnly reports whether every offset g has, committed or pending, is
// of a partition among tps.
func (g *group) holdsOnly(tps []topicPartition) bool {
	if len(tps) == 0 {
		return len(g.offsets) == 0 && len(g.pendingCommits) == 0
	}
	in := make(map[topicPartition]bool, len(tps))
	for _, tp := range tps {
		in[tp] = true
	}
	return len(g.heldOffsets(func(tp topicPartition) bool { return !in[tp] })) == 0
}

func (g *group) transition(s state, now time.Time) {
	g.state, g.stateTime = s, now
}

// memberList returns the members in joining order.
func (g *group) memberList() []*member {
	ms := make([]*member, 0, len(g.order))
	for _, id := range g.order {
		ms = append(ms, g.members[id])
	}
	return ms
}

func (g *group) isLeader(id string) bool { return g.leader != "" && g.leader == id }

// add makes m a member, waiting for a join answer on join (nil: none).
func (g *group) add(m *member, join *Future[JoinResult]) {
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	for _, p := range m.protocols {
		g.supported[p.Name]++
	}
	m.join = join
	if join != nil {
		g.awaiting++
	}
	delete(g.pending, m.id)
}

// remove drops member id (and its pending state). Its waiting requests, if
// any, must have been answered by the caller.
func (g *group) remove(id string) {
	if m, ok := g.members[id]; ok {
		for _, p := range m.protocols {
			g.supported[p.Name]--
		}
		if m.awaitingJoin() {
			g.awaiting--
		}
		if m.instanceID != nil && g.static[*m.instanceID] == id {
			delete(g.static, *m.instanceID)
		}
		delete(g.members, id)
		g.order = slices.DeleteFunc(g.order, func(s string) bool { return s == id })
	}
	if g.leader == id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
	delete(g.pending, id)
	delete(g.pendingSync, id)
}

// updateMember replaces m's protocols and timeouts, and its join waiter.
func (g *group) updateMember(m *member, protocols []Protocol, rebalanceTimeoutMs, sessionTimeoutMs int32, join *Future[JoinResult]) {
	for _, p := range m.protocols {
		g.supported[p.Name]--
	}
	m.protocols = protocols
	for _, p := range m.protocols {
		g.supported[p.Name]++
	}
	m.rebalanceTimeoutMs, m.sessionTimeoutMs = rebalanceTimeoutMs, sessionTimeoutMs
	switch {
	case join != nil && !m.awaitingJoin():
		g.awaiting++
	case join == nil && m.awaitingJoin():
		g.awaiting--
	}
	if m.join != nil && join != nil && m.join != join {
		// A second JoinGroup from the same member (its first timed out on
		// the client): answer the first so that it does not wait forever.
		m.join.complete(JoinResult{Err: ErrRebalanceInProgress, MemberID: m.id, Generation: -1})
	}
	m.join = join
}

// replaceStaticMember gives the static member of instance id the member id
// newID, fencing requests of the old id that are waiting.
func (g *group) replaceStaticMember(instance, oldID, newID string) *member {
	m := g.members[oldID]
	delete(g.members, oldID)
	if m.join != nil {
		m.join.complete(JoinResult{Err: ErrFencedInstanceID, MemberID: oldID, Generation: -1})
		m.join = nil
		g.awaiting--
	}
	if m.sync != nil {
		m.sync.complete(SyncResult{Err: ErrFencedInstanceID})
		m.sync = nil
	}
	m.id = newID
	g.members[newID] = m
	for i, id := range g.order {
		if id == oldID {
			g.order[i] = newID
		}
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	if g.leader == oldID {
		g.leader = newID
	}
	g.static[instance] = newID
	return m
}

// allJoined reports whether every member has a JoinGroup waiting and no
// KIP-394 pending member is yet to rejoin.
func (g *group) allJoined() bool {
	return len(g.members) == g.awaiting && len(g.pending) == 0
}

// rebalanceTimeout is the largest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var ms int32
	for _, m := range g.members {
		ms = max(ms, m.rebalanceTimeoutMs)
	}
	return time.Duration(ms) * time.Millisecond
}

// canRebalance reports whether the state may move to PreparingRebalance.
func (g *group) canRebalance() bool {
	return g.state == stateStable || g.state == stateCompletingRebalance || g.state == stateEmpty
}

// supportsProtocols reports whether a member of protocolType supporting
// protocols may join: an empty group takes any non-empty type and list;
// otherwise the type must match and one protocol must be supported by every
// current member.
func (g *group) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if g.state == stateEmpty {
		return protocolType != "" && len(protocols) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supported[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that most members
// prefer; ties go to the one the earliest member prefers.
func (g *group) selectProtocol() string {
	candidates := map[string]bool{}
	for name, n := range g.supported {
		if n == len(g.members) {
			candidates[name] = true
		}
	}
	votes := map[string]int{}
	for _, m := range g.memberList() {
		votes[m.vote(candidates)]++
	}
	best := ""
	for _, m := range g.memberList() {
		if v := m.vote(candidates); best == "" || votes[v] > votes[best] {
			best = v
		}
	}
	return best
}

// electJoinedLeader keeps the leader if it rejoined, else picks a member
// that did. It reports false if no member rejoined.
func (g *group) electJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if g.members[g.leader].awaitingJoin() {
		return true
	}
	for _, m := range g.memberList() {
		if m.awaitingJoin() {
			g.leader = m.id
			return true
		}
	}
	return false
}

// computeSubscribed derives the subscribed topics from the members'
// consumer protocol metadata, or nil if they cannot be known.
func (g *group) computeSubscribed() map[string]bool {
	if g.protocolType != consumerProtocolType {
		return nil
	}
	topics := map[string]bool{}
	if len(g.members) == 0 {
		return topics
	}
	if g.protocolName == "" {
		return nil
	}
	for _, m := range g.members {
		ts, ok := subscriptionTopics(m.metadata(g.protocolName))
		if !ok {
			return nil
		}
		for _, t := range ts {
			topics[t] = true
		}
	}
	return topics
}

// isSubscribed reports whether the group's members consume topic; true
// when that cannot be known.
func (g *group) isSubscribed(topic string) bool {
	return g.subscribed == nil || g.subscribed[topic]
}

// subscriptionTopics reads the topics of a ConsumerProtocolSubscription.
// Every version starts with the v0 layout (version int16, topics
// [int32 count, int16-length strings]), which is all that is read, as
// Kafka does.
func subscriptionTopics(b []byte) ([]string, bool) {
	if len(b) < 6 {
		return nil, false
	}
	n := int32(binary.BigEndian.Uint32(b[2:]))
	b = b[6:]
	if n < 0 || int(n) > len(b)/2 {
		return nil, false
	}
	topics := make([]string, 0, n)
	for i := int32(0); i < n; i++ {
		if len(b) < 2 {
			return nil, false
		}
		l := int(int16(binary.BigEndian.Uint16(b)))
		if l < 0 || len(b) < 2+l {
			return nil, false
		}
		topics = append(topics, string(b[2:2+l]))
		b = b[2+l:]
	}
	return topics, true
}

// stateMatches reports whether s is among filter, compared as Kafka does
// (case-insensitively). An empty filter matches every state.
func stateMatches(s state, filter []string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if strings.EqualFold(f, s.String()) {
			return true
		}
	}
	return false
}
