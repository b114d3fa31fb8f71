package group

import (
	"time"
)

// Protocol is one assignment protocol a member supports, with its metadata
// (for consumers: the serialized subscription).
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is one JoinGroup request.
type JoinRequest struct {
	Group            string
	MemberID         string  // "" on a first join
	InstanceID       *string // static membership (v5+, KIP-345)
	ClientID         string
	ClientHost       string
	SessionTimeoutMs int32
	// RebalanceTimeoutMs is the session timeout for v0 requests.
	RebalanceTimeoutMs int32
	ProtocolType       string
	Protocols          []Protocol
	// RequireKnownMemberID makes a first join of a dynamic member answer
	// MEMBER_ID_REQUIRED with its new id (v4+, KIP-394).
	RequireKnownMemberID bool
	// SupportsSkipAssignment: the client understands SkipAssignment (v9+,
	// KIP-814).
	SupportsSkipAssignment bool
	Reason                 string
}

// JoinResult answers a JoinGroup.
type JoinResult struct {
	Err            error
	MemberID       string
	Generation     int32
	ProtocolType   *string
	ProtocolName   *string
	Leader         string
	SkipAssignment bool
	Members        []JoinedMember // for the leader only
}

// JoinedMember is a member as its group's leader sees it.
type JoinedMember struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

func joinFailed(memberID string, err error) JoinResult {
	return JoinResult{Err: err, MemberID: memberID, Generation: -1}
}

// JoinGroup adds or updates a member. The answer comes when the rebalance
// completes (or at once, for errors and for rejoins that change nothing; a
// static member that rejoins a Stable group is answered once its new member
// id is durable).
func (c *Coordinator) JoinGroup(req JoinRequest) *Future[JoinResult] {
	if req.Group == "" {
		return completedFuture(joinFailed(req.MemberID, ErrInvalidGroupID))
	}
	s, err := c.shardFor(req.Group, true)
	if err != nil {
		return completedFuture(joinFailed(req.MemberID, err))
	}
	session := time.Duration(req.SessionTimeoutMs) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return completedFuture(joinFailed(req.MemberID, ErrInvalidSessionTimeout))
	}
	if err := s.lock(); err != nil {
		return completedFuture(joinFailed(req.MemberID, err))
	}
	f, after := s.joinLocked(req)
	s.mu.Unlock()
	s.finish(after)
	return f
}

func (s *shard) joinLocked(req JoinRequest) (*Future[JoinResult], *afterWrite) {
	now := s.c.clock.Now()
	g := s.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			return completedFuture(joinFailed(req.MemberID, ErrUnknownMemberID)), nil
		}
		g = newGroup(req.Group, now)
		s.groups[g.id] = g
	}
	var (
		f     *Future[JoinResult]
		after *afterWrite
	)
	switch {
	case !s.acceptJoiningLocked(g, req.MemberID):
		if m := g.members[req.MemberID]; m != nil {
			s.answerAndRemoveLocked(g, m, ErrGroupMaxSizeReached)
		}
		f = completedFuture(joinFailed("", ErrGroupMaxSizeReached))
	case req.MemberID == "":
		f, after = s.joinNewMemberLocked(g, req, now)
	default:
		f = s.joinCurrentMemberLocked(g, req, now)
	}
	if g.state == statePreparingRebalance {
		s.tryCompleteJoinLocked(g, now)
	}
	s.dropIfUnusedLocked(g)
	return f, after
}

// acceptJoiningLocked applies group.max.size as Kafka does: members already
// waiting in a rebalance, and existing members of a settled group, are
// always accepted.
func (s *shard) acceptJoiningLocked(g *group, id string) bool {
	limit := s.c.cfg.MaxSize
	switch g.state {
	case statePreparingRebalance:
		m := g.members[id]
		return m != nil && m.awaitingJoin() || g.awaiting < limit
	case stateCompletingRebalance, stateStable:
		return g.members[id] != nil || len(g.members) < limit
	}
	return true
}

func (s *shard) joinNewMemberLocked(g *group, req JoinRequest, now time.Time) (*Future[JoinResult], *afterWrite) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return completedFuture(joinFailed("", ErrInconsistentProtocol)), nil
	}
	prefix := req.ClientID
	if req.InstanceID != nil {
		prefix = *req.InstanceID
	}
	id := s.c.newMemberID(prefix)
	if req.InstanceID != nil {
		if old, ok := g.static[*req.InstanceID]; ok {
			return s.replaceStaticMemberLocked(g, old, id, req, now)
		}
		return s.addMemberLocked(g, id, req, now), nil
	}
	if req.RequireKnownMemberID {
		// KIP-394: remember the id and have the client join again with
		// it, so that clients that never come back leave no member.
		g.pending[id] = now.Add(time.Duration(req.SessionTimeoutMs) * time.Millisecond)
		return completedFuture(joinFailed(id, ErrMemberIDRequired)), nil
	}
	return s.addMemberLocked(g, id, req, now), nil
}

func (s *shard) joinCurrentMemberLocked(g *group, req JoinRequest, now time.Time) *Future[JoinResult] {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return completedFuture(joinFailed(req.MemberID, ErrInconsistentProtocol))
	}
	if _, ok := g.pending[req.MemberID]; ok {
		if req.InstanceID != nil { // pending members are dynamic
			return completedFuture(joinFailed(req.MemberID, ErrUnknownMemberID))
		}
		return s.addMemberLocked(g, req.MemberID, req, now)
	}
	if err := validateMember(g, req.MemberID, req.InstanceID); err != nil {
		return completedFuture(joinFailed(req.MemberID, err))
	}
	m := g.members[req.MemberID]
	rebalance := func(reason string) *Future[JoinResult] {
		f := newFuture[JoinResult]()
		g.updateMember(m, req.Protocols, req.RebalanceTimeoutMs, req.SessionTimeoutMs, f)
		s.maybePrepareRebalanceLocked(g, now, reason)
		return f
	}
	switch g.state {
	case statePreparingRebalance:
		return rebalance("member joined during a rebalance")
	case stateCompletingRebalance:
		if !m.matches(req.Protocols) {
			return rebalance("member changed its metadata")
		}
		// The member lost the answer: give it again.
		return completedFuture(s.joinResultLocked(g, m.id, g.leader))
	case stateStable:
		if g.isLeader(m.id) {
			// The leader rejoins when it sees a change that its
			// assignment depends on (topic metadata).
			return rebalance("the leader rejoined")
		}
		if !m.matches(req.Protocols) {
			return rebalance("member changed its metadata")
		}
		return completedFuture(JoinResult{
			MemberID: m.id, Generation: g.generation,
			ProtocolType: strPtr(g.protocolType), ProtocolName: strPtr(g.protocolName), Leader: g.leader,
		})
	}
	return completedFuture(joinFailed(req.MemberID, ErrUnknownMemberID))
}

// validateMember checks that memberID is a member and, for a static
// member, that it is the current holder of its instance id.
func validateMember(g *group, memberID string, instanceID *string) error {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		switch {
		case !ok:
			return ErrUnknownMemberID
		case cur != memberID:
			return ErrFencedInstanceID
		}
	}
	if g.members[memberID] == nil {
		return ErrUnknownMemberID
	}
	return nil
}

func (s *shard) addMemberLocked(g *group, id string, req JoinRequest, now time.Time) *Future[JoinResult] {
	f := newFuture[JoinResult]()
	m := &member{
		id: id, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		sessionTimeoutMs: req.SessionTimeoutMs, rebalanceTimeoutMs: req.RebalanceTimeoutMs,
		protocolType: req.ProtocolType, protocols: req.Protocols, isNew: true,
		// A new member cannot heartbeat before its JoinGroup is answered:
		// bound the wait instead of the session.
		deadline: now.Add(newMemberJoinTimeout),
	}
	if g.state == statePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(m, f)
	s.maybePrepareRebalanceLocked(g, now, "new member joined")
	return f
}

// replaceStaticMemberLocked handles a static member that joins again with
// an unknown member id (a restart): it takes over its old membership under
// a new id. In a Stable group whose protocol does not change, it gets the
// current generation back with no rebalance, once the group metadata with
// its new id is durable: the returned write answers it.
func (s *shard) replaceStaticMemberLocked(g *group, oldID, newID string, req JoinRequest, now time.Time) (*Future[JoinResult], *afterWrite) {
	instance := *req.InstanceID
	oldLeader := g.leader
	m := g.replaceStaticMember(instance, oldID, newID)
	m.deadline = now.Add(time.Duration(m.sessionTimeoutMs) * time.Millisecond)
	oldProtocols, oldRebalance, oldSession := m.protocols, m.rebalanceTimeoutMs, m.sessionTimeoutMs
	f := newFuture[JoinResult]()
	g.updateMember(m, req.Protocols, req.RebalanceTimeoutMs, req.SessionTimeoutMs, f)
	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocolName {
			s.maybePrepareRebalanceLocked(g, now, "static member rejoined with a different protocol")
			return f, nil
		}
		assignment := map[string][]byte{}
		for _, gm := range g.members {
			assignment[gm.id] = gm.assignment
		}
		// Keep the old member id, which the log still has, if the write
		// fails.
		revert := func(err error, now time.Time) {
			g.updateMember(m, oldProtocols, oldRebalance, oldSession, nil)
			g.replaceStaticMember(instance, newID, oldID)
			m.deadline = now.Add(time.Duration(m.sessionTimeoutMs) * time.Millisecond)
			f.complete(JoinResult{
				Err: groupAppendError(err), Generation: g.generation,
				ProtocolType: strPtr(g.protocolType), ProtocolName: strPtr(g.protocolName), Leader: oldLeader,
			})
		}
		w, err := s.storeGroupLocked(g, assignment, now)
		if err != nil {
			revert(err, now)
			return f, nil
		}
		generation := g.generation
		return f, &afterWrite{w: w, then: func(err error) {
			if s.groups[g.id] != g || g.generation != generation || g.state != stateStable || g.members[newID] != m || m.join != f {
				// The group moved on meanwhile; f was answered then
				// (or will be by the rebalance now waiting for it).
				return
			}
			now := s.c.clock.Now()
			if err != nil {
				revert(err, now)
				return
			}
			res := JoinResult{
				MemberID: newID, Generation: g.generation,
				ProtocolType: strPtr(g.protocolType), ProtocolName: strPtr(g.protocolName),
				// Before KIP-814 the old leader id is returned so that a
				// restarted leader does not compute an assignment a Stable
				// group would ignore.
				Leader: oldLeader,
			}
			if req.SupportsSkipAssignment {
				res = s.joinResultLocked(g, newID, g.leader)
				res.SkipAssignment = g.isLeader(newID)
			}
			s.answerJoinLocked(g, m, res)
			s.c.logger.Info("static member rejoined without a rebalance", "group", g.id, "instance", instance, "member", newID, "generation", g.generation)
		}}
	case stateCompletingRebalance:
		// The leader may already have been given the old member id.
		s.prepareRebalanceLocked(g, now, "static member rejoined during CompletingRebalance")
	}
	return f, nil
}

// joinResultLocked is the current generation's JoinGroup answer for member
// id, with the member list if it is the leader.
func (s *shard) joinResultLocked(g *group, id, leader string) JoinResult {
	res := JoinResult{
		MemberID: id, Generation: g.generation,
		ProtocolType: strPtr(g.protocolType), ProtocolName: strPtr(g.protocolName), Leader: leader,
	}
	if g.isLeader(id) {
		for _, m := range g.memberList() {
			res.Members = append(res.Members, JoinedMember{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadata(g.protocolName)})
		}
	}
	return res
}

// answerJoinLocked completes m's waiting JoinGroup.
func (s *shard) answerJoinLocked(g *group, m *member, res JoinResult) {
	if m.join == nil {
		return
	}
	m.join.complete(res)
	m.join = nil
	g.awaiting--
}

// answerAndRemoveLocked answers m's waiting requests with err and removes
// it, without starting a rebalance.
func (s *shard) answerAndRemoveLocked(g *group, m *member, err error) {
	s.answerJoinLocked(g, m, joinFailed("", err))
	if m.sync != nil {
		m.sync.complete(SyncResult{Err: err})
		m.sync = nil
	}
	g.remove(m.id)
}

func (s *shard) maybePrepareRebalanceLocked(g *group, now time.Time, reason string) {
	if g.canRebalance() {
		s.prepareRebalanceLocked(g, now, reason)
	}
}

// prepareRebalanceLocked starts a join phase: members waiting for a sync
// answer are told to rejoin; an Empty group waits the initial rebalance
// delay for more members, others up to the largest rebalance timeout for
// every member to rejoin.
func (s *shard) prepareRebalanceLocked(g *group, now time.Time, reason string) {
	if f := s.c.opts.OnRebalance; f != nil {
		f()
	}
	if g.state == stateCompletingRebalance {
		s.resetAssignmentLocked(g, ErrRebalanceInProgress, now)
	}
	clear(g.pendingSync)
	g.syncDeadline = time.Time{}
	if g.state == stateEmpty {
		delay := s.c.cfg.InitialRebalanceDelay
		g.initialDelay, g.delayPhase = true, delay
		g.delayRemaining = max(g.rebalanceTimeout()-delay, 0)
		g.joinDeadline = now.Add(delay)
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(g.rebalanceTimeout())
	}
	g.transition(statePreparingRebalance, now)
	s.c.logger.Info("preparing to rebalance group", "group", g.id, "generation", g.generation, "partition", s.partition, "reason", reason)
	s.tryCompleteJoinLocked(g, now)
}

// tryCompleteJoinLocked completes the join phase if every member has
// rejoined (outside the initial delay, which always runs its course) or
// its deadline has passed.
func (s *shard) tryCompleteJoinLocked(g *group, now time.Time) {
	if g.state != statePreparingRebalance {
		return
	}
	if !g.initialDelay && g.allJoined() {
		s.completeJoinLocked(g, now)
		return
	}
	if !now.Before(g.joinDeadline) {
		s.onJoinDeadlineLocked(g, now)
	}
}

// onJoinDeadlineLocked ends a join phase whose time is up. During the
// initial delay, a member that arrived meanwhile extends it by another
// delay, as long as the rebalance timeout allows.
func (s *shard) onJoinDeadlineLocked(g *group, now time.Time) {
	if g.initialDelay && g.newMemberAdded && g.delayRemaining > 0 {
		g.newMemberAdded = false
		next := min(s.c.cfg.InitialRebalanceDelay, g.delayRemaining)
		g.delayRemaining = max(g.delayRemaining-g.delayPhase, 0)
		g.delayPhase = next
		g.joinDeadline = now.Add(next)
		return
	}
	s.completeJoinLocked(g, now)
}

// completeJoinLocked ends the join phase: dynamic members that did not
// rejoin are removed, a new generation starts with the protocol the members
// vote for, and every waiting member gets its answer (the leader with the
// member list). An Empty result is persisted at once; otherwise the group
// waits in CompletingRebalance for the leader's assignment.
func (s *shard) completeJoinLocked(g *group, now time.Time) {
	g.joinDeadline, g.initialDelay, g.newMemberAdded = time.Time{}, false, false
	for _, m := range g.memberList() {
		if !m.awaitingJoin() && m.instanceID == nil {
			s.c.logger.Info("removing member that did not rejoin in time", "group", g.id, "member", m.id)
			s.answerAndRemoveLocked(g, m, ErrUnknownMemberID)
		}
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members that did not rejoin are left: wait for
		// them (their sessions bound the wait).
		g.joinDeadline = now.Add(g.rebalanceTimeout())
		return
	}
	g.generation++
	clear(g.pendingSync)
	if len(g.members) == 0 {
		g.protocolName = ""
		g.subscribed = g.computeSubscribed()
		g.transition(stateEmpty, now)
		// If this fails the previous generation stays in the log; it
		// has no live members, so nothing is lost.
		if w, err := s.storeGroupLocked(g, nil, now); err != nil {
			s.c.logger.Warn("writing empty group metadata failed", "group", g.id, "generation", g.generation, "err", err)
		} else {
			s.watchLocked(w, "empty group metadata was not acknowledged", "group", g.id, "generation", g.generation)
		}
		s.c.logger.Info("group is now empty", "group", g.id, "generation", g.generation)
		return
	}
	g.protocolName = g.selectProtocol()
	g.subscribed = g.computeSubscribed()
	g.transition(stateCompletingRebalance, now)
	for _, m := range g.memberList() {
		s.answerJoinLocked(g, m, s.joinResultLocked(g, m.id, g.leader))
		m.deadline = now.Add(time.Duration(m.sessionTimeoutMs) * time.Millisecond)
		m.isNew = false
		g.pendingSync[m.id] = true
	}
	g.syncDeadline = now.Add(g.rebalanceTimeout())
	s.c.logger.Info("group rebalanced", "group", g.id, "generation", g.generation, "members", len(g.members), "protocol", g.protocolName, "leader", g.leader)
}

// removeMemberLocked removes a member that left or whose session expired,
// and rebalances the rest.
func (s *shard) removeMemberLocked(g *group, m *member, now time.Time, reason string) {
	s.answerAndRemoveLocked(g, m, ErrUnknownMemberID)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		s.maybePrepareRebalanceLocked(g, now, "member removed: "+reason)
	case statePreparingRebalance:
		s.tryCompleteJoinLocked(g, now)
	}
}

func (s *shard) removePendingMemberLocked(g *group, id string, now time.Time) {
	delete(g.pending, id)
	if g.state == statePreparingRebalance {
		s.tryCompleteJoinLocked(g, now)
	}
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
