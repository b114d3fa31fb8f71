package group

import (
	"bytes"
	"testing"
	"time"
)

// TestGroupJoinSyncHeartbeat walks two members through KIP-394's
// MEMBER_ID_REQUIRED first join, two rebalances, the leader's assignment
// and heartbeats.
func TestGroupJoinSyncHeartbeat(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "orders"
	first := joinReq(g, "", "t")
	first.RequireKnownMemberID = true

	// A's first join only gets a member id.
	r := done(t, tc.c.JoinGroup(first))
	wantErr(t, "first join", r.Err, ErrMemberIDRequired)
	if r.MemberID == "" || r.Generation != -1 {
		t.Fatalf("MEMBER_ID_REQUIRED answer %+v: want a member id and generation -1", r)
	}
	idA := r.MemberID
	if d := tc.c.DescribeGroup(g); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after MEMBER_ID_REQUIRED the group is %+v, want Empty with no members", d)
	}

	// Joining with it forms generation 1 (no initial delay configured).
	a := mustJoin(t, tc.c.JoinGroup(withMember(first, idA)))
	if a.id != idA || a.generation != 1 || a.leader != idA || len(a.members) != 1 {
		t.Fatalf("A's join: %+v", a)
	}
	if d := tc.c.DescribeGroup(g); d.State != "CompletingRebalance" {
		t.Fatalf("state %s, want CompletingRebalance", d.State)
	}
	s := done(t, tc.sync(g, a, map[string][]byte{idA: []byte("all")}))
	if s.Err != nil || string(s.Assignment) != "all" || *s.ProtocolName != "range" || *s.ProtocolType != "consumer" {
		t.Fatalf("A's sync: %+v", s)
	}
	wantErr(t, "A heartbeat", tc.c.Heartbeat(g, idA, nil, 1), nil)

	// B arrives: the group waits for A to rejoin.
	r = done(t, tc.c.JoinGroup(first))
	wantErr(t, "B first join", r.Err, ErrMemberIDRequired)
	idB := r.MemberID
	fB := tc.c.JoinGroup(withMember(first, idB))
	waiting(t, fB)
	if d := tc.c.DescribeGroup(g); d.State != "PreparingRebalance" || d.Protocol != "" {
		t.Fatalf("after B joined: %+v, want PreparingRebalance and no protocol shown", d)
	}
	wantErr(t, "A heartbeat during the rebalance", tc.c.Heartbeat(g, idA, nil, 1), ErrRebalanceInProgress)
	fA := tc.c.JoinGroup(withMember(first, idA))
	a, b := mustJoin(t, fA), mustJoin(t, fB)
	if a.generation != 2 || b.generation != 2 || a.leader != idA || b.leader != idA {
		t.Fatalf("generation 2 answers: A %+v B %+v", a, b)
	}
	if len(a.members) != 2 || len(b.members) != 0 {
		t.Fatalf("the leader gets every member (got %d), followers none (got %d)", len(a.members), len(b.members))
	}
	for _, jm := range a.members {
		if !bytes.Equal(jm.Metadata, consumerMeta("t")) {
			t.Errorf("member %s metadata %q, want the subscription", jm.MemberID, jm.Metadata)
		}
	}

	// The follower's sync waits for the leader's assignment.
	fsB := tc.sync(g, b, nil)
	waiting(t, fsB)
	wantErr(t, "heartbeat while completing", tc.c.Heartbeat(g, idB, nil, 2), nil)
	sA := done(t, tc.sync(g, a, map[string][]byte{idA: []byte("p0"), idB: []byte("p1")}))
	sB := done(t, fsB)
	if string(sA.Assignment) != "p0" || string(sB.Assignment) != "p1" {
		t.Fatalf("assignments A %q B %q", sA.Assignment, sB.Assignment)
	}

	wantErr(t, "heartbeat", tc.c.Heartbeat(g, idB, nil, 2), nil)
	wantErr(t, "old generation", tc.c.Heartbeat(g, idB, nil, 1), ErrIllegalGeneration)
	wantErr(t, "unknown member", tc.c.Heartbeat(g, "nobody", nil, 2), ErrUnknownMemberID)
	wantErr(t, "unknown group", tc.c.Heartbeat("other", idA, nil, 2), ErrUnknownMemberID)
	wantErr(t, "empty group id", tc.c.Heartbeat("", idA, nil, 2), ErrInvalidGroupID)
	wantErr(t, "sync of an old generation", done(t, tc.sync(g, testMember{id: idB, generation: 1}, nil)).Err, ErrIllegalGeneration)

	d := tc.c.DescribeGroup(g)
	if d.State != "Stable" || d.Protocol != "range" || d.ProtocolType != "consumer" || len(d.Members) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	for _, m := range d.Members {
		want := map[string]string{idA: "p0", idB: "p1"}[m.MemberID]
		if string(m.Assignment) != want || m.ClientHost != "/127.0.0.1" || m.ClientID != "client" {
			t.Errorf("described member %+v, want assignment %q", m, want)
		}
	}
}

func withMember(r JoinRequest, id string) JoinRequest {
	r.MemberID = id
	return r
}

// TestGroupInitialRebalanceDelay: an Empty group's first rebalance waits
// group.initial.rebalance.delay.ms, and each member arriving meanwhile
// extends it by another delay, within the rebalance timeout.
func TestGroupInitialRebalanceDelay(t *testing.T) {
	tc := newTestCoord(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	const g = "delayed"
	fA := tc.joinNew(g, "t") // rebalance timeout 30 s
	tc.advance(2 * time.Second)
	fB := tc.joinNew(g, "t")
	tc.advance(999 * time.Millisecond) // 2.999 s
	waiting(t, fA)
	tc.advance(time.Millisecond) // 3 s: B arrived, so another 3 s
	waiting(t, fA)
	waiting(t, fB)
	tc.advance(2999 * time.Millisecond)
	waiting(t, fA)
	tc.advance(time.Millisecond) // 6 s
	a, b := mustJoin(t, fA), mustJoin(t, fB)
	if a.generation != 1 || b.generation != 1 || len(a.members) != 2 {
		t.Fatalf("after the delay: A %+v B %+v", a, b)
	}

	// Alone, a member waits exactly one delay.
	fC := tc.joinNew("alone", "t")
	tc.advance(2999 * time.Millisecond)
	waiting(t, fC)
	tc.advance(time.Millisecond)
	if c := mustJoin(t, fC); c.generation != 1 {
		t.Fatalf("alone: %+v", c)
	}
}

// TestGroupInitialDelayBoundedByRebalanceTimeout: members that keep
// arriving cannot hold the first rebalance beyond the rebalance timeout.
func TestGroupInitialDelayBoundedByRebalanceTimeout(t *testing.T) {
	tc := newTestCoord(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	req := joinReq("busy", "", "t")
	req.RebalanceTimeoutMs = 7000
	fA := tc.c.JoinGroup(req)
	var last *Future[JoinResult]
	for i := 0; i < 20 && !done2(fA); i++ {
		last = tc.c.JoinGroup(req)
		tc.advance(time.Second)
	}
	if !done2(fA) {
		t.Fatal("the first rebalance never completed")
	}
	// Delays: 3 s, then min(3, 4) = 3 s, then min(3, 1) = 1 s: 7 s in all.
	if got := tc.clock.Now().Sub(time.UnixMilli(1_700_000_000_000)); got != 7*time.Second {
		t.Fatalf("first rebalance completed after %v, want 7s", got)
	}
	_ = mustJoin(t, last)
}

func done2[T any](f *Future[T]) bool {
	_, ok := f.Result()
	return ok
}

// TestGroupSessionTimeoutRemovesMember: a member that stops heartbeating is
// removed after its session timeout and the others rebalance.
func TestGroupSessionTimeoutRemovesMember(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "sessions"
	ms := tc.stableGroup(g, 2, "t")
	a, b := ms[0], ms[1]
	for i := 0; i < 4; i++ { // 9.6 s: A heartbeats, B is silent
		tc.advance(2400 * time.Millisecond)
		wantErr(t, "A heartbeat", tc.c.Heartbeat(g, a.id, nil, a.generation), nil)
	}
	if d := tc.c.DescribeGroup(g); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("before B's session (10 s) ends: %+v", d)
	}
	tc.advance(400 * time.Millisecond) // 10 s since B's sync
	d := tc.c.DescribeGroup(g)
	if d.State != "PreparingRebalance" || len(d.Members) != 1 || d.Members[0].MemberID != a.id {
		t.Fatalf("after B's session ended: %+v", d)
	}
	wantErr(t, "A heartbeat", tc.c.Heartbeat(g, a.id, nil, a.generation), ErrRebalanceInProgress)
	wantErr(t, "B heartbeat", tc.c.Heartbeat(g, b.id, nil, b.generation), ErrUnknownMemberID)
	a2 := mustJoin(t, tc.c.JoinGroup(joinReq(g, a.id, "t")))
	if a2.generation != a.generation+1 || len(a2.members) != 1 {
		t.Fatalf("A alone: %+v", a2)
	}
}

// TestGroupRebalanceTimeout: members that do not rejoin within the
// rebalance timeout are dropped from the next generation even if they
// heartbeat.
func TestGroupRebalanceTimeout(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "slow"
	ms := tc.stableGroup(g, 2, "t")
	a, b := ms[0], ms[1]
	fC := tc.joinNew(g, "t")
	fA := tc.c.JoinGroup(joinReq(g, a.id, "t"))
	for i := 0; i < 5; i++ { // B heartbeats but never rejoins
		tc.advance(5 * time.Second)
		wantErr(t, "B heartbeat", tc.c.Heartbeat(g, b.id, nil, b.generation), ErrRebalanceInProgress)
		waiting(t, fA)
	}
	tc.advance(5 * time.Second) // 30 s: the rebalance timeout
	a2, c := mustJoin(t, fA), mustJoin(t, fC)
	if a2.generation != a.generation+1 || len(a2.members) != 2 || c.leader != a.id {
		t.Fatalf("after the rebalance timeout: A %+v C %+v", a2, c)
	}
	for _, jm := range a2.members {
		if jm.MemberID == b.id {
			t.Fatal("B, which did not rejoin, is in the new generation")
		}
	}
	wantErr(t, "B heartbeat", tc.c.Heartbeat(g, b.id, nil, b.generation), ErrUnknownMemberID)
}

// TestGroupSyncTimeout: a member that does not send SyncGroup within the
// rebalance timeout after the join phase is removed, and the group
// rebalances.
func TestGroupSyncTimeout(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "nosync"
	ms := tc.stableGroup(g, 2, "t")
	ms = tc.rejoinAll(g, ms, "t") // the leader rejoins: a new generation
	a, b := ms[0], ms[1]
	sA := tc.sync(g, a, map[string][]byte{a.id: []byte("x"), b.id: []byte("y")})
	if r := done(t, sA); r.Err != nil || string(r.Assignment) != "x" {
		t.Fatalf("leader sync: %+v", r)
	}
	// Stable, but B has not synced (it heartbeats, so its session lives).
	for i := 0; i < 5; i++ {
		tc.advance(5 * time.Second)
		wantErr(t, "A heartbeat", tc.c.Heartbeat(g, a.id, nil, a.generation), nil)
		wantErr(t, "B heartbeat", tc.c.Heartbeat(g, b.id, nil, b.generation), nil)
	}
	tc.advance(5 * time.Second)
	d := tc.c.DescribeGroup(g)
	if d.State != "PreparingRebalance" || len(d.Members) != 1 {
		t.Fatalf("after the sync timeout: %+v", d)
	}
}

// TestGroupStaticMemberRestart: a static member that restarts (joins with
// its instance id and no member id) within its session timeout gets its
// assignment back in the same generation, with no rebalance; its old
// member id is fenced; the new id survives a coordinator restart.
func TestGroupStaticMemberRestart(t *testing.T) {
	for _, skip := range []bool{false, true} {
		name := map[bool]string{false: "JoinGroupV8", true: "JoinGroupV9SkipAssignment"}[skip]
		t.Run(name, func(t *testing.T) {
			tc := newTestCoord(t, nil)
			const g = "static"
			static := func(instance, id string) JoinRequest {
				r := joinReq(g, id, "t")
				r.InstanceID = &instance
				r.SupportsSkipAssignment = skip
				return r
			}
			a := mustJoin(t, tc.c.JoinGroup(static("a", "")))
			fB := tc.c.JoinGroup(static("b", ""))
			fA := tc.c.JoinGroup(static("a", a.id))
			a, b := mustJoin(t, fA), mustJoin(t, fB)
			instA, instB := "a", "b"
			sB := tc.c.SyncGroup(SyncRequest{Group: g, Generation: b.generation, MemberID: b.id, InstanceID: &instB})
			sA := tc.c.SyncGroup(SyncRequest{Group: g, Generation: a.generation, MemberID: a.id, InstanceID: &instA,
				Assignments: map[string][]byte{a.id: []byte("pa"), b.id: []byte("pb")}})
			if done(t, sA).Err != nil || done(t, sB).Err != nil {
				t.Fatalf("syncs: %+v %+v", done(t, sA), done(t, sB))
			}
			gen := a.generation

			// Both restart: the follower B, then the leader A.
			for _, who := range []struct {
				inst     string
				old      testMember
				leader   bool
				assigned string
			}{{"b", b, false, "pb"}, {"a", a, true, "pa"}} {
				tc.advance(3 * time.Second)
				r := done(t, tc.c.JoinGroup(static(who.inst, "")))
				if r.Err != nil || r.Generation != gen || r.MemberID == who.old.id {
					t.Fatalf("%s rejoin: %+v, want generation %d and a new member id", who.inst, r, gen)
				}
				switch {
				case skip && who.leader:
					if !r.SkipAssignment || r.Leader != r.MemberID || len(r.Members) != 2 {
						t.Fatalf("v9 leader rejoin: %+v, want SkipAssignment with the members", r)
					}
				case who.leader:
					if r.Leader != who.old.id || len(r.Members) != 0 {
						t.Fatalf("v8 leader rejoin: %+v, want the old leader id so that it does not assign", r)
					}
				default:
					if r.SkipAssignment || len(r.Members) != 0 {
						t.Fatalf("follower rejoin: %+v", r)
					}
				}
				inst := who.inst
				s := done(t, tc.c.SyncGroup(SyncRequest{Group: g, Generation: r.Generation, MemberID: r.MemberID, InstanceID: &inst}))
				if s.Err != nil || string(s.Assignment) != who.assigned {
					t.Fatalf("%s sync after the restart: %+v, want %q", who.inst, s, who.assigned)
				}
				wantErr(t, "old id of "+who.inst, tc.c.Heartbeat(g, who.old.id, &inst, gen), ErrFencedInstanceID)
				wantErr(t, "new id of "+who.inst, tc.c.Heartbeat(g, r.MemberID, &inst, gen), nil)
				if d := tc.c.DescribeGroup(g); d.State != "Stable" {
					t.Fatalf("after %s restarted the group is %s", who.inst, d.State)
				}
				if who.leader {
					a.id = r.MemberID
				} else {
					b.id = r.MemberID
				}
			}

			// The replaced member ids were persisted.
			tc.restart()
			wantErr(t, "A after a coordinator restart", tc.c.Heartbeat(g, a.id, &instA, gen), nil)
			wantErr(t, "B after a coordinator restart", tc.c.Heartbeat(g, b.id, &instB, gen), nil)
		})
	}
}

// TestGroupStaticMemberKeptThroughRebalance: a static member that misses a
// rebalance stays in the group (with its old metadata) until its session
// ends, unlike a dynamic member.
func TestGroupStaticMemberKeptThroughRebalance(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "keep"
	inst := "s"
	req := joinReq(g, "", "t")
	req.InstanceID = &inst
	s := mustJoin(t, tc.c.JoinGroup(req))
	done(t, tc.sync(g, s, map[string][]byte{s.id: []byte("x")}))
	fD := tc.joinNew(g, "t")
	for i := 0; i < 5; i++ { // the static member heartbeats but does not rejoin
		tc.advance(5 * time.Second)
		wantErr(t, "static heartbeat", tc.c.Heartbeat(g, s.id, &inst, s.generation), ErrRebalanceInProgress)
		waiting(t, fD)
	}
	tc.advance(5 * time.Second)
	// 30 s: the rebalance timeout. The new member joined, so the next
	// generation forms, led by it, and keeps the static member.
	d := mustJoin(t, fD)
	if d.generation != s.generation+1 || d.leader != d.id || len(d.members) != 2 {
		t.Fatalf("new generation %+v", d)
	}
	if desc := tc.c.DescribeGroup(g); len(desc.Members) != 2 {
		t.Fatalf("members %+v: the static member must stay", desc.Members)
	}
	// Its session still ends it when it stops heartbeating.
	tc.advance(5 * time.Second)
	wantErr(t, "new member heartbeat", tc.c.Heartbeat(g, d.id, nil, d.generation), nil)
	tc.advance(5 * time.Second)
	if desc := tc.c.DescribeGroup(g); len(desc.Members) != 1 || desc.Members[0].MemberID != d.id {
		t.Fatalf("members %+v: the silent static member must be gone", desc.Members)
	}
}

// TestGroupLeave: leaving members (by member id, or by instance id for an
// admin's removal) make the others rebalance; the last one leaves the group
// Empty with a new generation.
func TestGroupLeave(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "leavers"
	ms := tc.stableGroup(g, 2, "t")
	a, b := ms[0], ms[1]
	errs, gErr := tc.c.LeaveGroup(g, []LeaveMember{{MemberID: b.id}, {MemberID: "stranger"}})
	wantErr(t, "leave", gErr, nil)
	wantErr(t, "B leaves", errs[0], nil)
	wantErr(t, "stranger leaves", errs[1], ErrUnknownMemberID)
	if d := tc.c.DescribeGroup(g); d.State != "PreparingRebalance" || len(d.Members) != 1 {
		t.Fatalf("after B left: %+v", d)
	}
	a = mustJoin(t, tc.c.JoinGroup(joinReq(g, a.id, "t")))
	if a.generation != 3 {
		t.Fatalf("A after B left: %+v", a)
	}
	done(t, tc.sync(g, a, map[string][]byte{a.id: []byte("all")}))

	// A static member removed by its instance id alone.
	inst := "admin-removes-me"
	sreq := joinReq(g, "", "t")
	sreq.InstanceID = &inst
	fS := tc.c.JoinGroup(sreq)
	ms = tc.rejoinAll(g, []testMember{a}, "t")
	mustJoin(t, fS)
	errs, _ = tc.c.LeaveGroup(g, []LeaveMember{{InstanceID: &inst}})
	wantErr(t, "remove by instance id", errs[0], nil)
	errs, _ = tc.c.LeaveGroup(g, []LeaveMember{{InstanceID: &inst}})
	wantErr(t, "remove an unknown instance id", errs[0], ErrUnknownMemberID)

	// The last member leaves: Empty, and the group is still there.
	errs, _ = tc.c.LeaveGroup(g, []LeaveMember{{MemberID: ms[0].id}})
	wantErr(t, "A leaves", errs[0], nil)
	d := tc.c.DescribeGroup(g)
	if d.State != "Empty" || len(d.Members) != 0 || d.NotFound {
		t.Fatalf("after everyone left: %+v", d)
	}
	errs, _ = tc.c.LeaveGroup("no-such-group", []LeaveMember{{MemberID: "x"}})
	wantErr(t, "leave an unknown group", errs[0], ErrUnknownMemberID)
}

// TestGroupPendingMemberExpires: a KIP-394 pending member that never joins
// with its id is forgotten after its session timeout.
func TestGroupPendingMemberExpires(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "pending"
	ms := tc.stableGroup(g, 1, "t")
	req := joinReq(g, "", "t")
	req.RequireKnownMemberID = true
	r := done(t, tc.c.JoinGroup(req))
	wantErr(t, "first join", r.Err, ErrMemberIDRequired)
	// The leader rejoins: the rebalance still waits for the pending member.
	fA := tc.c.JoinGroup(joinReq(g, ms[0].id, "t"))
	waiting(t, fA)
	tc.advance(10 * time.Second) // the pending member's session timeout
	a := mustJoin(t, fA)
	if len(a.members) != 1 {
		t.Fatalf("after the pending member expired: %+v", a)
	}
	r = done(t, tc.c.JoinGroup(withMember(req, r.MemberID)))
	wantErr(t, "late join with the expired id", r.Err, ErrUnknownMemberID)
}

// TestGroupProtocolSelection: the protocol every member supports that most
// members prefer wins; a member sharing no protocol (or another protocol
// type) is refused.
func TestGroupProtocolSelection(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "protocols"
	req := func(id string, names ...string) JoinRequest {
		r := joinReq(g, id, "t")
		r.Protocols = nil
		for _, n := range names {
			r.Protocols = append(r.Protocols, Protocol{Name: n, Metadata: []byte(n)})
		}
		return r
	}
	a := mustJoin(t, tc.c.JoinGroup(req("", "range", "roundrobin", "sticky")))
	fB := tc.c.JoinGroup(req("", "roundrobin", "range"))
	fC := tc.c.JoinGroup(req("", "roundrobin", "range"))
	fA := tc.c.JoinGroup(req(a.id, "range", "roundrobin", "sticky"))
	a = mustJoin(t, fA)
	mustJoin(t, fB)
	mustJoin(t, fC)
	r := done(t, fA)
	if *r.ProtocolName != "roundrobin" {
		t.Fatalf("selected %q, want roundrobin (two of three prefer it)", *r.ProtocolName)
	}
	for _, m := range r.Members {
		if string(m.Metadata) != "roundrobin" {
			t.Fatalf("leader got metadata %q, want the selected protocol's", m.Metadata)
		}
	}
	wantErr(t, "no common protocol", done(t, tc.c.JoinGroup(req("", "sticky"))).Err, ErrInconsistentProtocol)
	other := req("", "range")
	other.ProtocolType = "connect"
	wantErr(t, "other protocol type", done(t, tc.c.JoinGroup(other)).Err, ErrInconsistentProtocol)
	empty := req("")
	wantErr(t, "no protocols", done(t, tc.c.JoinGroup(withGroup(empty, "fresh"))).Err, ErrInconsistentProtocol)
	if d := tc.c.DescribeGroup("fresh"); !d.NotFound {
		t.Fatalf("a refused first join left a group behind: %+v", d)
	}
}

func withGroup(r JoinRequest, g string) JoinRequest {
	r.Group = g
	return r
}

// TestGroupJoinValidation covers the JoinGroup errors that do not need a
// rebalance.
func TestGroupJoinValidation(t *testing.T) {
	tc := newTestCoord(t, func(c *Config) { c.MaxSize = 2 })
	r := joinReq("", "", "t")
	wantErr(t, "empty group id", done(t, tc.c.JoinGroup(r)).Err, ErrInvalidGroupID)
	r = joinReq("g", "", "t")
	r.SessionTimeoutMs = 5999
	wantErr(t, "session below the minimum", done(t, tc.c.JoinGroup(r)).Err, ErrInvalidSessionTimeout)
	r.SessionTimeoutMs = 30*60*1000 + 1
	wantErr(t, "session above the maximum", done(t, tc.c.JoinGroup(r)).Err, ErrInvalidSessionTimeout)
	wantErr(t, "unknown member of an unknown group", done(t, tc.c.JoinGroup(joinReq("g", "ghost", "t"))).Err, ErrUnknownMemberID)

	ms := tc.stableGroup("g", 1, "t")
	wantErr(t, "unknown member id", done(t, tc.c.JoinGroup(joinReq("g", "ghost", "t"))).Err, ErrUnknownMemberID)
	ms = tc.syncAll("g", tc.rejoinAll("g", ms, "t"))
	fB := tc.joinNew("g", "t")
	ms = tc.syncAll("g", append(tc.rejoinAll("g", ms, "t"), mustJoin(t, fB)))
	// group.max.size is checked before the member id, as Kafka does.
	wantErr(t, "third member with group.max.size=2", done(t, tc.joinNew("g", "t")).Err, ErrGroupMaxSizeReached)
	wantErr(t, "existing member still welcome", tc.c.Heartbeat("g", ms[1].id, nil, ms[1].generation), nil)
}

// TestGroupCooperativeRejoin: with cooperative rebalancing (KIP-429) members
// rejoin while the group is Stable. A follower rejoining with unchanged
// metadata gets the current generation back; with changed metadata (its
// owned partitions) it starts a rebalance.
func TestGroupCooperativeRejoin(t *testing.T) {
	tc := newTestCoord(t, nil)
	const g = "coop"
	ms := tc.stableGroup(g, 2, "t")
	a, b := ms[0], ms[1]
	r := mustJoin(t, tc.c.JoinGroup(joinReq(g, b.id, "t")))
	if r.generation != b.generation || len(r.members) != 0 {
		t.Fatalf("follower rejoin with the same metadata: %+v", r)
	}
	if d := tc.c.DescribeGroup(g); d.State != "Stable" {
		t.Fatalf("state %s after a no-op rejoin", d.State)
	}
	changed := joinReq(g, b.id, "t", "u")
	fB := tc.c.JoinGroup(changed)
	waiting(t, fB)
	// A can still commit in the old generation while the group gathers.
	errs := tc.c.CommitOffsets(CommitRequest{Group: g, Generation: a.generation, MemberID: a.id, RetentionMs: -1,
		Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 5, LeaderEpoch: -1, Timestamp: -1}}})
	wantErr(t, "commit during PreparingRebalance", errs[0], nil)
	fA := tc.c.JoinGroup(joinReq(g, a.id, "t"))
	a2, b2 := mustJoin(t, fA), mustJoin(t, fB)
	if a2.generation != a.generation+1 || b2.generation != a2.generation {
		t.Fatalf("after the metadata change: %+v %+v", a2, b2)
	}
}

// TestGroupAssignmentNeedsTheAppend: the leader's assignment reaches no
// member unless it is durable; when the write fails every waiting member
// is told and the group rebalances.
func TestGroupAssignmentNeedsTheAppend(t *testing.T) {
	for _, mode := range failModes {
		t.Run(mode.name, func(t *testing.T) {
			tc := newTestCoord(t, nil)
			const g = "fragile"
			ms := tc.rejoinAll(g, tc.stableGroup(g, 2, "t"), "t")
			a, b := ms[0], ms[1]
			fB := tc.sync(g, b, nil)
			mode.set(tc.store.logOf(g), ErrLogUnavailable)
			rA := done(t, tc.sync(g, a, map[string][]byte{a.id: []byte("x"), b.id: []byte("y")}))
			rB := done(t, fB)
			wantErr(t, "leader sync", rA.Err, ErrNotCoordinator)
			wantErr(t, "follower sync", rB.Err, ErrNotCoordinator)
			if len(rB.Assignment) != 0 {
				t.Fatalf("follower got assignment %q that was never stored", rB.Assignment)
			}
			if d := tc.c.DescribeGroup(g); d.State != "PreparingRebalance" {
				t.Fatalf("after the failed store: %s", d.State)
			}
			mode.set(tc.store.logOf(g), nil)
			ms = tc.syncAll(g, tc.rejoinAll(g, ms, "t"))
			if ms[0].generation != a.generation+1 {
				t.Fatalf("generation %d after the retry", ms[0].generation)
			}
		})
	}
}
