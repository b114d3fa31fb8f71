package group

import (
	"time"
)

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// CommitRequest is one OffsetCommit request (the partitions that exist).
type CommitRequest struct {
	Group string
	// Generation is -1 (with an empty MemberID) for commits from outside
	// group management: simple consumers and admin tools.
	Generation int32
	MemberID   string
	InstanceID *string
	// RetentionMs (v2-v4) gives the offsets their own retention; -1 uses
	// offsets.retention.minutes.
	RetentionMs int64
	Offsets     []CommitOffset
}

// CommitOffset is one partition's commit.
type CommitOffset struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32 // -1: unknown
	Metadata    *string
	Timestamp   int64 // v1 commit timestamp; -1: now
}

// CommitOffsets validates the committer against the group and appends the
// offsets to the log; they are acknowledged (nil errors), and visible to
// FetchOffsets, only once the append is durable. It returns one error per
// offset.
func (c *Coordinator) CommitOffsets(req CommitRequest) []error {
	errs := make([]error, len(req.Offsets))
	if len(req.Offsets) == 0 {
		return errs
	}
	s, err := c.shardFor(req.Group, true)
	if err == nil {
		err = s.lock()
	}
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	after := s.stageCommitLocked(req, errs)
	s.mu.Unlock()
	s.finish(after)
	return errs
}

// stagedOffset is one offset of a commit waiting for its acknowledgement.
type stagedOffset struct {
	tp topicPartition
	e  *offsetEntry
}

// stageCommitLocked validates req and appends its offsets, setting errs
// for those it refuses. The offsets are pending until the returned write
// completes, which installs them and sets the errors of the others; nil if
// nothing was appended.
func (s *shard) stageCommitLocked(req CommitRequest, errs []error) *afterWrite {
	fail := func(err error) *afterWrite {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return nil
	}
	now := s.c.clock.Now()
	g := s.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			return fail(ErrIllegalGeneration) // a member of a generation this coordinator never had
		}
		g = newGroup(req.Group, now)
		s.groups[g.id] = g
	}
	defer s.dropIfUnusedLocked(g)
	if err := validateCommit(g, req.Generation, req.MemberID, req.InstanceID); err != nil {
		return fail(err)
	}
	switch g.state {
	case stateCompletingRebalance:
		// A member of the new generation that has not synced yet.
		return fail(ErrRebalanceInProgress)
	case stateStable, statePreparingRebalance:
		// Commits are allowed while a rebalance gathers members: the
		// heartbeat tells the member to rejoin.
		if m := g.members[req.MemberID]; m != nil {
			m.deadline = now.Add(time.Duration(m.sessionTimeoutMs) * time.Millisecond)
		}
	}
	var (
		recs   []keyValue
		staged []stagedOffset
	)
	for i, o := range req.Offsets {
		md := ""
		if o.Metadata != nil {
			md = *o.Metadata
		}
		if len(md) > s.c.cfg.MaxMetadataBytes {
			errs[i] = ErrMetadataTooLarge
			continue
		}
		e := &offsetEntry{offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: md, commitTime: now.UnixMilli(), expireTime: -1}
		if o.Timestamp != -1 {
			e.commitTime = o.Timestamp
		}
		if req.RetentionMs != -1 {
			e.expireTime = now.UnixMilli() + req.RetentionMs
		}
		tp := topicPartition{o.Topic, o.Partition}
		recs = append(recs, keyValue{offsetKey(g.id, tp.topic, tp.partition), offsetValue(e)})
		staged = append(staged, stagedOffset{tp, e})
	}
	if len(recs) == 0 {
		return nil
	}
	w, err := s.appendLocked(recs, now)
	if err != nil {
		return fail(commitAppendError(err))
	}
	for i, so := range staged {
		so.e.logOffset = w.base + int64(i)
		pc := g.pendingCommits[so.tp]
		if pc == nil {
			pc = &pendingCommit{floor: -1}
			g.pendingCommits[so.tp] = pc
		}
		pc.n++
	}
	return &afterWrite{w: w, then: func(err error) {
		s.installCommitLocked(g, staged, err)
		if err != nil {
			fail(commitAppendError(err))
		}
	}}
}

// installCommitLocked ends the wait of staged offsets of g: if their write
// succeeded they replace the cached ones, unless the group was deleted
// meanwhile or a tombstone or commit of the same partition followed them in
// the log (as a replay of the log would decide). A failed write changes no
// offset.
func (s *shard) installCommitLocked(g *group, staged []stagedOffset, err error) {
	if s.groups[g.id] != g {
		return // unloaded, or deleted (with tombstones for these offsets)
	}
	for _, so := range staged {
		pc := g.pendingCommits[so.tp]
		if pc == nil {
			continue // not pending: cannot happen while g is current
		}
		if cur := g.offsets[so.tp]; err == nil && so.e.logOffset > pc.floor && (cur == nil || cur.logOffset < so.e.logOffset) {
			g.offsets[so.tp] = so.e
		}
		if pc.n--; pc.n == 0 {
			delete(g.pendingCommits, so.tp)
		}
	}
	s.dropIfUnusedLocked(g)
}

// validateCommit applies Kafka's rules: outside group management (generation
// < 0, no member id) a commit is allowed only while the group is Empty;
// otherwise the committer must be a current member of the current
// generation.
func validateCommit(g *group, generation int32, memberID string, instanceID *string) error {
	switch {
	case generation < 0 && g.state == stateEmpty:
		return nil
	case generation >= 0 || memberID != "" || instanceID != nil:
		if err := validateMember(g, memberID, instanceID); err != nil {
			return err
		}
		if generation != g.generation {
			return ErrIllegalGeneration
		}
		return nil
	case g.state != stateEmpty:
		return ErrUnknownMemberID // only members commit to a live group
	}
	return nil
}

// FetchedOffset is one partition's committed offset: -1 (leader epoch -1,
// metadata "") when none is committed.
type FetchedOffset struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	Err         error
}

// FetchOffsets returns the group's committed offsets of partitions, or of
// every partition it has committed when all is set. Commits whose write is
// not yet acknowledged are not returned: as in Kafka, only pending
// transactional commits (which do not exist here) make OffsetFetch's
// RequireStable answer UNSTABLE_OFFSET_COMMIT.
func (c *Coordinator) FetchOffsets(groupID string, partitions []TopicPartition, all bool) ([]FetchedOffset, error) {
	none := func() []FetchedOffset {
		out := make([]FetchedOffset, 0, len(partitions))
		for _, tp := range partitions {
			out = append(out, FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1})
		}
		return out
	}
	s, err := c.lockShard(groupID)
	switch {
	case err != nil:
		return nil, err
	case s == nil:
		return none(), nil
	}
	defer s.mu.Unlock()
	g := s.groups[groupID]
	if g == nil {
		return none(), nil
	}
	if all {
		tps := make([]topicPartition, 0, len(g.offsets))
		for tp := range g.offsets {
			tps = append(tps, tp)
		}
		sortTPs(tps)
		partitions = partitions[:0]
		for _, tp := range tps {
			partitions = append(partitions, TopicPartition{tp.topic, tp.partition})
		}
	}
	out := make([]FetchedOffset, 0, len(partitions))
	for _, tp := range partitions {
		fo := FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1}
		if e := g.offsets[topicPartition{tp.Topic, tp.Partition}]; e != nil {
			fo.Offset, fo.LeaderEpoch, fo.Metadata = e.offset, e.leaderEpoch, e.metadata
		}
		out = append(out, fo)
	}
	return out, nil
}

// DeleteOffsets removes committed offsets (OffsetDelete). An Empty group
// loses any; a live consumer group only those of topics no member
// subscribes to (GROUP_SUBSCRIBED_TO_TOPIC for the others); other live
// groups none (NON_EMPTY_GROUP). It returns one error per partition and
// the group-level error, once the tombstones are acknowledged.
func (c *Coordinator) DeleteOffsets(groupID string, partitions []TopicPartition) ([]error, error) {
	if groupID == "" {
		return nil, ErrInvalidGroupID
	}
	s, err := c.lockShard(groupID)
	switch {
	case err != nil:
		return nil, err
	case s == nil:
		return nil, ErrGroupNotFound
	}
	errs, w, err := s.deleteOffsetsLocked(groupID, partitions)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.await(w); err != nil {
		return nil, groupAppendError(err)
	}
	return errs, nil
}

// deleteOffsetsLocked applies DeleteOffsets; the write is yet to be
// acknowledged.
func (s *shard) deleteOffsetsLocked(groupID string, partitions []TopicPartition) ([]error, write, error) {
	g := s.groups[groupID]
	if g == nil {
		return nil, write{}, ErrGroupNotFound
	}
	errs := make([]error, len(partitions))
	switch g.state {
	case stateEmpty:
	case statePreparingRebalance, stateCompletingRebalance, stateStable:
		if g.protocolType != consumerProtocolType {
			return nil, write{}, ErrNonEmptyGroup
		}
		for i, tp := range partitions {
			if g.isSubscribed(tp.Topic) {
				errs[i] = ErrSubscribedToTopic
			}
		}
	}
	var drop []topicPartition
	seen := map[topicPartition]bool{}
	for i, tp := range partitions {
		k := topicPartition{tp.Topic, tp.Partition}
		if errs[i] == nil && g.holds(k) && !seen[k] {
			seen[k] = true
			drop = append(drop, k)
		}
	}
	w, err := s.dropOffsetsLocked(g, drop, false, s.c.clock.Now())
	if err != nil {
		return nil, write{}, groupAppendError(err)
	}
	return errs, w, nil
}
