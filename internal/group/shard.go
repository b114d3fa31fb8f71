package group

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// loadBufferSize is how much of the log one read brings while loading
// (Kafka's offsets.load.buffer.size default).
const loadBufferSize = 5 << 20

// shard is the coordinator of the groups of one __consumer_offsets
// partition.
type shard struct {
	c         *Coordinator
	partition int32
	log       Log

	// ctx ends every wait for an acknowledgement when the shard unloads;
	// watches are the goroutines that wait for background writes.
	ctx     context.Context
	cancel  context.CancelFunc
	watches sync.WaitGroup

	mu       sync.Mutex
	loading  bool // being replayed: requests get COORDINATOR_LOAD_IN_PROGRESS
	unloaded bool // resigned: requests get NOT_COORDINATOR
	groups   map[string]*group
}

func newShard(c *Coordinator, p int32, log Log) *shard {
	ctx, cancel := context.WithCancel(context.Background())
	return &shard{c: c, partition: p, log: log, ctx: ctx, cancel: cancel, loading: true, groups: map[string]*group{}}
}

// lock takes s.mu if the shard is serving; on error it is not held.
func (s *shard) lock() error {
	s.mu.Lock()
	switch {
	case s.unloaded:
		s.mu.Unlock()
		return ErrNotCoordinator
	case s.loading:
		s.mu.Unlock()
		return ErrLoadInProgress
	}
	return nil
}

// unload resigns the shard: waiting requests are answered NOT_COORDINATOR,
// waits for acknowledgements end, and the groups are dropped from memory.
// It returns once the goroutines watching background writes have ended.
// No lock may be held.
func (s *shard) unload() {
	s.markUnloaded()
	s.watches.Wait()
}

// markUnloaded is unload but for waiting on the watches.
func (s *shard) markUnloaded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unloaded {
		return
	}
	s.unloaded = true
	s.cancel()
	for _, g := range s.groups {
		for _, m := range g.members {
			if m.join != nil {
				m.join.complete(JoinResult{Err: ErrNotCoordinator, MemberID: m.id, Generation: -1})
			}
			if m.sync != nil {
				m.sync.complete(SyncResult{Err: ErrNotCoordinator})
			}
		}
	}
	s.groups = nil
}

// load replays the partition from its start and installs the groups it
// describes.
func (s *shard) load() error {
	start := time.Now()
	groups, err := s.replay()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unloaded {
		return nil
	}
	now := s.c.clock.Now()
	s.groups = groups
	for _, g := range groups {
		for _, m := range g.members {
			m.deadline = now.Add(time.Duration(m.sessionTimeoutMs) * time.Millisecond)
		}
		if len(g.members) > s.c.cfg.MaxSize {
			s.prepareRebalanceLocked(g, now, "loaded group is over group.max.size")
		}
	}
	s.loading = false
	if len(groups) > 0 {
		s.c.logger.Info("loaded consumer groups", "partition", s.partition, "groups", len(groups), "took", time.Since(start))
	}
	return nil
}

// replay reads the log and builds its groups: the last record of each key
// wins, tombstones delete.
func (s *shard) replay() (map[string]*group, error) {
	type gtp struct {
		group string
		tp    topicPartition
	}
	offsets := map[gtp]*offsetEntry{}
	metas := map[string]*kmsg.GroupMetadataValue{}
	var unknown int
	apply := func(key, value []byte) {
		if len(key) < 2 {
			unknown++
			return
		}
		switch v := int16(binary.BigEndian.Uint16(key)); v {
		case 0, 1:
			var k kmsg.OffsetCommitKey
			if err := k.ReadFrom(key); err != nil {
				unknown++
				return
			}
			id := gtp{k.Group, topicPartition{k.Topic, k.Partition}}
			if value == nil {
				delete(offsets, id)
				return
			}
			var ov kmsg.OffsetCommitValue
			if err := ov.ReadFrom(value); err != nil {
				unknown++
				return
			}
			e := &offsetEntry{offset: ov.Offset, leaderEpoch: -1, metadata: ov.Metadata, commitTime: ov.CommitTimestamp, expireTime: -1, logOffset: -1}
			if ov.Version >= 3 {
				e.leaderEpoch = ov.LeaderEpoch
			}
			if ov.Version == 1 && ov.ExpireTimestamp != -1 {
				e.expireTime = ov.ExpireTimestamp
			}
			offsets[id] = e
		case 2:
			var k kmsg.GroupMetadataKey
			if err := k.ReadFrom(key); err != nil {
				unknown++
				return
			}
			if value == nil {
				delete(metas, k.Group)
				return
			}
			gv := new(kmsg.GroupMetadataValue)
			if err := gv.ReadFrom(value); err != nil {
				unknown++
				return
			}
			metas[k.Group] = gv
		default:
			unknown++
		}
	}
	var buf []byte
	from, end := s.log.StartOffset(), s.log.EndOffset()
	for from < end {
		var err error
		buf, err = s.log.Read(from, loadBufferSize, buf[:0])
		if err != nil {
			return nil, err
		}
		if len(buf) == 0 {
			break
		}
		next, err := eachRecord(buf, from, apply)
		if err != nil {
			return nil, fmt.Errorf("at offset %d: %w", from, err)
		}
		if next <= from {
			break
		}
		from = next
	}
	if unknown > 0 {
		s.c.logger.Warn("skipped records the coordinator cannot read while loading", "partition", s.partition, "records", unknown)
	}
	now := s.c.clock.Now()
	groups := map[string]*group{}
	for id, gv := range metas {
		groups[id] = groupFromValue(id, gv, now)
	}
	for id, e := range offsets {
		g := groups[id.group]
		if g == nil {
			// Offsets without group metadata: a group used only to store
			// offsets (simple consumers, admin commits).
			g = newGroup(id.group, now)
			groups[id.group] = g
		}
		g.offsets[id.tp] = e
	}
	return groups, nil
}

// groupFromValue rebuilds a group from its last metadata record: Stable
// with its members and their assignments, or Empty.
func groupFromValue(id string, v *kmsg.GroupMetadataValue, now time.Time) *group {
	g := newGroup(id, now)
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocolName = *v.Protocol
	}
	g.stateTime = time.Time{} // unknown
	if v.Version >= 2 && v.CurrentStateTimestamp >= 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		m := &member{
			id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			sessionTimeoutMs: vm.SessionTimeoutMillis, rebalanceTimeoutMs: vm.RebalanceTimeoutMillis,
			protocolType: v.ProtocolType,
			protocols:    []Protocol{{Name: g.protocolName, Metadata: vm.Subscription}},
			assignment:   vm.Assignment,
		}
		if v.Version == 0 {
			m.rebalanceTimeoutMs = m.sessionTimeoutMs
		}
		g.add(m, nil)
	}
	if v.Leader != nil && g.members[*v.Leader] != nil {
		g.leader = *v.Leader
	}
	if len(g.members) > 0 {
		g.state = stateStable
	}
	g.subscribed = g.computeSubscribed()
	return g
}

// tick applies every deadline that has passed.
func (s *shard) tick(now time.Time) {
	if s.lock() != nil {
		return
	}
	defer s.mu.Unlock()
	for _, g := range s.groups {
		s.checkDeadlinesLocked(g, now)
	}
}

// checkDeadlinesLocked expires pending members and member sessions, then
// the group's join and sync deadlines.
func (s *shard) checkDeadlinesLocked(g *group, now time.Time) {
	for id, deadline := range g.pending {
		if !now.Before(deadline) {
			s.c.logger.Info("pending member did not rejoin within its session timeout", "group", g.id, "member", id)
			s.removePendingMemberLocked(g, id, now)
		}
	}
	for _, m := range g.memberList() {
		if g.members[m.id] != m || now.Before(m.deadline) {
			continue
		}
		// Members waiting for a join or sync answer are bounded by the
		// rebalance timeouts instead, except new members, which
		// cannot heartbeat yet.
		if m.isNew || !m.awaitingJoin() && !m.awaitingSync() {
			s.c.logger.Info("member session expired", "group", g.id, "member", m.id, "new", m.isNew)
			s.removeMemberLocked(g, m, now, "session timeout")
		}
	}
	if g.state == statePreparingRebalance && !g.joinDeadline.IsZero() && !now.Before(g.joinDeadline) {
		s.onJoinDeadlineLocked(g, now)
	}
	if (g.state == stateCompletingRebalance || g.state == stateStable) && !g.syncDeadline.IsZero() && !now.Before(g.syncDeadline) {
		s.onSyncDeadlineLocked(g, now)
	}
}

// expireOffsets applies offsets.retention.minutes, as Kafka's periodic
// cleanup does, and drops groups left Empty without offsets. It does not
// wait for the tombstones' acknowledgement.
func (s *shard) expireOffsets(now time.Time) {
	if s.lock() != nil {
		return
	}
	defer s.mu.Unlock()
	for _, id := range s.groupIDsLocked() {
		g := s.groups[id]
		expired := g.expiredOffsets(now, s.c.cfg.OffsetsRetention)
		if len(expired) == 0 && !(g.state == stateEmpty && g.holdsOnly(nil)) {
			continue
		}
		w, err := s.dropOffsetsLocked(g, expired, false, now)
		if err != nil {
			s.c.logger.Warn("writing tombstones for expired offsets failed; retrying at the next check", "group", id, "err", err)
			continue
		}
		s.watchLocked(w, "tombstones for expired offsets were not acknowledged", "group", id)
		if len(expired) > 0 {
			s.c.logger.Info("expired committed offsets", "group", id, "offsets", len(expired))
		}
	}
}

// deleteTopic drops every offset of topic. It does not wait for the
// tombstones' acknowledgement.
func (s *shard) deleteTopic(topic string) {
	if s.lock() != nil {
		return
	}
	defer s.mu.Unlock()
	now := s.c.clock.Now()
	for _, id := range s.groupIDsLocked() {
		g := s.groups[id]
		tps := g.heldOffsets(func(tp topicPartition) bool { return tp.topic == topic })
		if len(tps) == 0 {
			continue
		}
		w, err := s.dropOffsetsLocked(g, tps, false, now)
		if err != nil {
			s.c.logger.Warn("dropping a deleted topic's committed offsets failed", "group", id, "topic", topic, "err", err)
			continue
		}
		s.watchLocked(w, "tombstones for a deleted topic's committed offsets were not acknowledged", "group", id, "topic", topic)
	}
}

// dropOffsetsLocked writes tombstones for tps (of which g has offsets,
// committed or pending), and for the group itself when deleteGroup is set
// or it is left Empty without offsets, then applies them at once, before
// their acknowledgement, as Kafka does: the cache follows the leader's log,
// and the commits of tps still waiting will not be installed. Nothing
// changes if the append fails. The caller waits for the returned write, or
// watches it.
func (s *shard) dropOffsetsLocked(g *group, tps []topicPartition, deleteGroup bool, now time.Time) (write, error) {
	dead := deleteGroup || g.state == stateEmpty && g.holdsOnly(tps)
	recs := make([]keyValue, 0, len(tps)+1)
	for _, tp := range tps {
		recs = append(recs, keyValue{key: offsetKey(g.id, tp.topic, tp.partition)})
	}
	// A group that never completed a rebalance has no metadata record.
	if dead && g.generation > 0 {
		recs = append(recs, keyValue{key: groupKey(g.id)})
	}
	var w write
	if len(recs) > 0 {
		var err error
		if w, err = s.appendLocked(recs, now); err != nil {
			return write{}, err
		}
	}
	for i, tp := range tps {
		delete(g.offsets, tp)
		if pc := g.pendingCommits[tp]; pc != nil {
			pc.floor = w.base + int64(i)
		}
	}
	if dead {
		g.transition(stateDead, now)
		delete(s.groups, g.id)
	}
	return w, nil
}

// dropIfUnusedLocked forgets a group created by a request that ended up
// adding nothing to it.
func (s *shard) dropIfUnusedLocked(g *group) {
	if g.state == stateEmpty && g.generation == 0 && len(g.members) == 0 && len(g.pending) == 0 && g.holdsOnly(nil) {
		delete(s.groups, g.id)
	}
}

func (s *shard) groupIDsLocked() []string {
	ids := make([]string, 0, len(s.groups))
	for id := range s.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func sortTPs(tps []topicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].topic != tps[j].topic {
			return tps[i].topic < tps[j].topic
		}
		return tps[i].partition < tps[j].partition
	})
}

// expiredOffsets lists the offsets of g that retention removes now, as
// Kafka decides: an Empty group's offsets once retention has passed since
// it became Empty (or since the commit, if that time is unknown); a Stable
// consumer group's offsets of topics it no longer subscribes to, after
// retention since the commit; an offsets-only group's after retention since
// the commit. A commit that set its own retention (v1 value with an expire
// timestamp) expires at that time.
func (g *group) expiredOffsets(now time.Time, retention time.Duration) []topicPartition {
	var (
		base       func(e *offsetEntry) int64
		subscribed map[string]bool
	)
	switch {
	case g.protocolType != "" && g.state == stateEmpty:
		base = func(e *offsetEntry) int64 {
			if g.stateTime.IsZero() {
				return e.commitTime
			}
			return g.stateTime.UnixMilli()
		}
	case g.protocolType == consumerProtocolType && g.subscribed != nil && g.state == stateStable:
		base = func(e *offsetEntry) int64 { return e.commitTime }
		subscribed = g.subscribed
	case g.protocolType == "":
		base = func(e *offsetEntry) int64 { return e.commitTime }
	default:
		return nil
	}
	nowMs, retMs := now.UnixMilli(), retention.Milliseconds()
	var out []topicPartition
	for tp, e := range g.offsets {
		if subscribed[tp.topic] {
			continue
		}
		if e.expireTime >= 0 && nowMs >= e.expireTime || e.expireTime < 0 && nowMs-base(e) >= retMs {
			out = append(out, tp)
		}
	}
	sortTPs(out)
	return out
}
