package group

import (
	"errors"
	"time"
)

// SyncRequest is one SyncGroup request.
type SyncRequest struct {
	Group        string
	Generation   int32
	MemberID     string
	InstanceID   *string
	ProtocolType *string // v5+ (KIP-559): checked when set
	ProtocolName *string
	// Assignments is the leader's assignment, by member id.
	Assignments map[string][]byte
}

// SyncResult answers a SyncGroup.
type SyncResult struct {
	Err          error
	ProtocolType *string
	ProtocolName *string
	Assignment   []byte
}

// SyncGroup hands the leader's assignment to the members. A member's answer
// comes once the leader's assignment is durable; the leader's call returns
// then.
func (c *Coordinator) SyncGroup(req SyncRequest) *Future[SyncResult] {
	fail := func(err error) *Future[SyncResult] { return completedFuture(SyncResult{Err: err}) }
	if req.Group == "" {
		return fail(ErrInvalidGroupID)
	}
	s, err := c.lockShard(req.Group)
	switch {
	case errors.Is(err, ErrLoadInProgress):
		// The rebalance in progress was lost with the old coordinator:
		// rejoin (older clients do not expect LOAD_IN_PROGRESS here).
		return fail(ErrRebalanceInProgress)
	case err != nil:
		return fail(err)
	case s == nil:
		return fail(ErrUnknownMemberID)
	}
	f, after := s.syncLocked(req)
	s.mu.Unlock()
	s.finish(after)
	return f
}

func (s *shard) syncLocked(req SyncRequest) (*Future[SyncResult], *afterWrite) {
	fail := func(err error) (*Future[SyncResult], *afterWrite) { return completedFuture(SyncResult{Err: err}), nil }
	now := s.c.clock.Now()
	g := s.groups[req.Group]
	if g == nil {
		return fail(ErrUnknownMemberID)
	}
	if err := validateMember(g, req.MemberID, req.InstanceID); err != nil {
		return fail(err)
	}
	switch {
	case req.Generation != g.generation:
		return fail(ErrIllegalGeneration)
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.ProtocolName != nil && *req.ProtocolName != g.protocolName:
		return fail(ErrInconsistentProtocol)
	}
	m := g.members[req.MemberID]
	defer func() {
		if len(g.pendingSync) == 0 {
			g.syncDeadline = time.Time{}
		}
	}()
	switch g.state {
	case stateEmpty:
		return fail(ErrUnknownMemberID)
	case statePreparingRebalance:
		return fail(ErrRebalanceInProgress)
	case stateStable:
		delete(g.pendingSync, m.id)
		m.deadline = now.Add(time.Duration(m.sessionTimeoutMs) * time.Millisecond)
		return completedFuture(SyncResult{ProtocolType: strPtr(g.protocolType), ProtocolName: strPtr(g.protocolName), Assignment: m.assignment}), nil
	}
	// CompletingRebalance.
	f := newFuture[SyncResult]()
	if m.sync != nil {
		m.sync.complete(SyncResult{Err: ErrRebalanceInProgress}) // superseded by this one
	}
	m.sync = f
	delete(g.pendingSync, m.id)
	if !g.isLeader(m.id) {
		return f, nil
	}
	assignment := make(map[string][]byte, len(g.members))
	for _, gm := range g.members {
		a := req.Assignments[gm.id]
		if a == nil {
			a = []byte{}
		}
		assignment[gm.id] = a
	}
	w, err := s.storeGroupLocked(g, assignment, now)
	if err != nil {
		s.assignmentFailedLocked(g, err, now)
		return f, nil
	}
	// The group stays CompletingRebalance until the write completes: the
	// members' SyncGroups wait for it.
	generation := g.generation
	return f, &afterWrite{w: w, then: func(err error) {
		if s.groups[g.id] != g || g.state != stateCompletingRebalance || g.generation != generation {
			return // the group moved on (and answered the waiting members)
		}
		now := s.c.clock.Now()
		if err != nil {
			s.assignmentFailedLocked(g, err, now)
			return
		}
		for _, gm := range g.members {
			gm.assignment = assignment[gm.id]
		}
		s.propagateLocked(g, nil, now)
		g.transition(stateStable, now)
	}}
}

// assignmentFailedLocked answers the members waiting in SyncGroup with the
// error of the failed write of the assignment, and rebalances.
func (s *shard) assignmentFailedLocked(g *group, err error, now time.Time) {
	s.c.logger.Warn("storing the group assignment failed; rebalancing again", "group", g.id, "generation", g.generation, "err", err)
	s.resetAssignmentLocked(g, groupAppendError(err), now)
	s.maybePrepareRebalanceLocked(g, now, "storing the assignment failed")
}

// resetAssignmentLocked clears every assignment and answers the waiting
// SyncGroups with err.
func (s *shard) resetAssignmentLocked(g *group, err error, now time.Time) {
	for _, m := range g.members {
		m.assignment = nil
	}
	s.propagateLocked(g, err, now)
}

// propagateLocked answers every waiting SyncGroup with the member's
// assignment (or err) and restarts its session.
func (s *shard) propagateLocked(g *group, err error, now time.Time) {
	for _, m := range g.memberList() {
		if m.sync == nil {
			continue
		}
		res := SyncResult{Err: err}
		if err == nil {
			res.ProtocolType, res.ProtocolName, res.Assignment = strPtr(g.protocolType), strPtr(g.protocolName), m.assignment
		}
		m.sync.complete(res)
		m.sync = nil
		m.deadline = now.Add(time.Duration(m.sessionTimeoutMs) * time.Millisecond)
	}
}

// onSyncDeadlineLocked removes members that have not sent SyncGroup within
// the rebalance timeout after the join phase, and rebalances.
func (s *shard) onSyncDeadlineLocked(g *group, now time.Time) {
	g.syncDeadline = time.Time{}
	if len(g.pendingSync) == 0 {
		return
	}
	for id := range g.pendingSync {
		if m := g.members[id]; m != nil {
			s.c.logger.Info("removing member that did not sync in time", "group", g.id, "member", id)
			s.answerAndRemoveLocked(g, m, ErrUnknownMemberID)
		}
	}
	clear(g.pendingSync)
	s.prepareRebalanceLocked(g, now, "members did not sync in time")
}

// Heartbeat keeps a member's session alive and tells it when to rejoin
// (REBALANCE_IN_PROGRESS).
func (c *Coordinator) Heartbeat(groupID, memberID string, instanceID *string, generation int32) error {
	if groupID == "" {
		return ErrInvalidGroupID
	}
	s, err := c.lockShard(groupID)
	switch {
	case errors.Is(err, ErrLoadInProgress):
		return nil // as Kafka: answer blindly while loading
	case err != nil:
		return err
	case s == nil:
		return ErrUnknownMemberID
	}
	defer s.mu.Unlock()
	now := c.clock.Now()
	g := s.groups[groupID]
	if g == nil {
		return ErrUnknownMemberID
	}
	if err := validateMember(g, memberID, instanceID); err != nil {
		return err
	}
	if generation != g.generation {
		return ErrIllegalGeneration
	}
	if g.state == stateEmpty {
		return ErrUnknownMemberID
	}
	m := g.members[memberID]
	m.deadline = now.Add(time.Duration(m.sessionTimeoutMs) * time.Millisecond)
	if g.state == statePreparingRebalance {
		return ErrRebalanceInProgress
	}
	return nil
}

// LeaveMember identifies one member leaving (v3+ batches them); an empty
// MemberID with an InstanceID removes that static member (an admin's
// removal).
type LeaveMember struct {
	MemberID   string
	InstanceID *string
	Reason     *string
}

// LeaveGroup removes members. It returns one error per member and the
// group-level error.
func (c *Coordinator) LeaveGroup(groupID string, members []LeaveMember) ([]error, error) {
	errs := make([]error, len(members))
	each := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if groupID == "" {
		return nil, ErrInvalidGroupID
	}
	s, err := c.lockShard(groupID)
	switch {
	case err != nil:
		return nil, err
	case s == nil:
		return each(ErrUnknownMemberID), nil
	}
	defer s.mu.Unlock()
	now := c.clock.Now()
	g := s.groups[groupID]
	if g == nil {
		return each(ErrUnknownMemberID), nil
	}
	for i, lm := range members {
		reason := "left the group"
		if lm.Reason != nil {
			reason += ": " + *lm.Reason
		}
		s.c.logger.Info("member leaving the group", "group", groupID, "member", lm.MemberID, "instance", lm.InstanceID, "reason", reason)
		switch {
		case lm.MemberID == "":
			id, ok := "", false
			if lm.InstanceID != nil {
				id, ok = g.static[*lm.InstanceID]
			}
			if !ok {
				errs[i] = ErrUnknownMemberID
				continue
			}
			s.removeMemberLocked(g, g.members[id], now, reason)
		case hasKey(g.pending, lm.MemberID):
			s.removePendingMemberLocked(g, lm.MemberID, now)
		default:
			if err := validateMember(g, lm.MemberID, lm.InstanceID); err != nil {
				errs[i] = err
				continue
			}
			s.removeMemberLocked(g, g.members[lm.MemberID], now, reason)
		}
	}
	return errs, nil
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}
