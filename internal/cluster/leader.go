package cluster

// The quorum leader's side: it answers the brokers' KRaft requests, keeps
// their leases, and turns every decision into a metadata log entry. Each
// decision is taken under ctlMu on the image the previous one produced
// (raft.Apply returns once the entry is applied here), so decisions never
// race each other.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/controller"
)

// producerIDBlock is the size of the producer id blocks handed to brokers.
const producerIDBlock = 1000

// leases tracks the brokers' last heartbeats, on the quorum leader only.
type leases struct {
	mu      sync.Mutex
	last    map[int32]time.Time
	applied map[int32]appliedReport
	conn    map[int32]<-chan struct{} // closes with the connection of a broker's last heartbeat
}

func newLeases() *leases {
	return &leases{last: map[int32]time.Time{}, applied: map[int32]appliedReport{}, conn: map[int32]<-chan struct{}{}}
}

// appliedReport is the metadata offset a broker last said it has applied
// (BrokerHeartbeat's CurrentMetadataOffset), for DescribeQuorum.
type appliedReport struct {
	offset   int64
	at       time.Time
	caughtUp time.Time // the last report at or past the commit index of then
}

func (l *leases) report(id int32, offset int64, commit uint64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.applied[id]
	r.offset, r.at = offset, now
	if offset >= 0 && uint64(offset) >= commit {
		r.caughtUp = now
	}
	l.applied[id] = r
}

func (l *leases) touch(id int32, now time.Time) {
	l.mu.Lock()
	l.last[id] = now
	l.mu.Unlock()
}

// propose appends recs to the metadata log as one entry and returns once it
// is applied here. Only the quorum leader can; others get ErrNotController.
func (n *Node) propose(recs []controller.Record) error {
	if len(recs) == 0 {
		return nil
	}
	data, err := controller.EncodeEntry(recs)
	if err != nil {
		return err
	}
	f := n.raft.Apply(data, 10*time.Second)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return fmt.Errorf("%w: %w", ErrNotController, err)
		}
		return fmt.Errorf("cluster: metadata commit: %w", err)
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

// decide runs fn on the current image under the decision lock and commits
// the records it returns.
func (n *Node) decide(fn func(img *controller.Image) ([]controller.Record, error)) error {
	n.ctlMu.Lock()
	defer n.ctlMu.Unlock()
	if !n.IsController() {
		return ErrNotController
	}
	if err := n.catchUpLocked(); err != nil {
		return err
	}
	recs, err := fn(n.committed())
	if err != nil {
		return err
	}
	return n.propose(recs)
}

// catchUpLocked makes sure a new quorum leader has applied every entry of
// the terms before its own before it decides anything: its image may lag
// the log it just won (after a restart, the whole log is replayed only
// once the leader knows what is committed). ctlMu held.
func (n *Node) catchUpLocked() error {
	term := n.raft.CurrentTerm()
	if n.caughtUpTerm == term {
		return nil
	}
	if err := n.raft.Barrier(10 * time.Second).Error(); err != nil {
		return fmt.Errorf("%w: catching up with the metadata log: %w", ErrNotController, err)
	}
	n.caughtUpTerm = term
	return nil
}

// unclean answers unclean.leader.election.enable for a topic.
func (n *Node) unclean(img *controller.Image) func(topic string) bool {
	return func(topic string) bool {
		t, ok := img.Topics[topic]
		if !ok {
			return false
		}
		return config.NewTopic(n.cfg, t.Configs).Bool("unclean.leader.election.enable")
	}
}

// ServeController answers a broker-to-controller request (BrokerRegistration,
// BrokerHeartbeat, AlterPartition, AllocateProducerIds) as the quorum
// leader; other nodes answer NOT_CONTROLLER. connClosed, if not nil, is
// closed when the connection the request came on is (see watchConn).
func (n *Node) ServeController(ctx context.Context, req kmsg.Request, connClosed <-chan struct{}) (kmsg.Response, error) {
	switch req := req.(type) {
	case *kmsg.BrokerRegistrationRequest:
		resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
		epoch, err := n.registerBroker(req)
		resp.ErrorCode, resp.BrokerEpoch = errorCode(err), epoch
		return resp, nil
	case *kmsg.BrokerHeartbeatRequest:
		resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
		err := n.heartbeat(req, resp)
		resp.ErrorCode = errorCode(err)
		if err == nil {
			n.watchConn(req.BrokerID, req.BrokerEpoch, connClosed)
		}
		return resp, nil
	case *kmsg.AlterPartitionRequest:
		return n.alterPartition(req), nil
	case *kmsg.AllocateProducerIDsRequest:
		resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
		start, err := n.allocateProducerIDs(req.BrokerID, req.BrokerEpoch)
		resp.ErrorCode, resp.ProducerIDStart, resp.ProducerIDLen = errorCode(err), start, producerIDBlock
		return resp, nil
	}
	return nil, fmt.Errorf("cluster: %T is not a controller request", req)
}

// errorCode maps the controller's errors to Kafka codes.
func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, ErrNotController):
		return kerr.NotController.Code
	case errors.Is(err, controller.ErrStaleBrokerEpoch):
		return kerr.StaleBrokerEpoch.Code
	case errors.Is(err, controller.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, controller.ErrInvalidUpdateVersion):
		return kerr.InvalidUpdateVersion.Code
	case errors.Is(err, controller.ErrNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, controller.ErrIneligibleReplica):
		return kerr.IneligibleReplica.Code
	case errors.Is(err, controller.ErrUnknownTopicOrPartition), errors.Is(err, broker.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, controller.ErrInvalidReplicationFactor), errors.Is(err, broker.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, broker.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, controller.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, controller.ErrPreferredNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, controller.ErrEligibleLeadersNotAvail):
		return kerr.EligibleLeadersNotAvailable.Code
	}
	return kerr.UnknownServerError.Code
}

// registerBroker records a broker's (new) registration. A broker that was
// live under another incarnation crashed and restarted: it is fenced first,
// so that its partitions get other leaders before it serves again. Every
// registration starts fenced; the first heartbeat unfences it.
func (n *Node) registerBroker(req *kmsg.BrokerRegistrationRequest) (int64, error) {
	reg := &controller.Broker{ID: req.BrokerID, Incarnation: fmt.Sprintf("%x", req.IncarnationID), Fenced: true}
	if req.Rack != nil {
		reg.Rack = *req.Rack
	}
	for _, l := range req.Listeners {
		switch l.Name {
		case "PLAINTEXT":
			reg.Host, reg.Port = l.Host, int32(l.Port)
		case "CONTROLLER":
			reg.ControllerAddr = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		}
	}
	if reg.Host == "" {
		return -1, kerr.InvalidRequest
	}
	if have := n.committed().ClusterID; req.ClusterID != "" && have != "" && req.ClusterID != have {
		return -1, fmt.Errorf("%w: broker %d belongs to cluster %s, this is cluster %s", kerr.InconsistentClusterID, req.BrokerID, req.ClusterID, have)
	}
	var epoch int64
	err := n.decide(func(img *controller.Image) ([]controller.Record, error) {
		recs := n.clusterRecords(img)
		if old, ok := img.Brokers[reg.ID]; ok {
			if old.Incarnation == reg.Incarnation {
				epoch = old.Epoch // a retry whose answer was lost
				return recs, nil
			}
			if !old.Fenced {
				recs = controller.FenceBroker(img, reg.ID, false, n.unclean(img))
			}
		}
		return append(recs, controller.Record{Type: controller.RecRegisterBroker, Broker: reg}), nil
	})
	if err != nil {
		return -1, err
	}
	n.leases.touch(reg.ID, n.now())
	if b, ok := n.committed().Brokers[reg.ID]; ok {
		epoch = b.Epoch
	}
	n.addNonvoter(reg)
	n.logger.Info("broker registered", "broker", reg.ID, "addr", net.JoinHostPort(reg.Host, strconv.Itoa(int(reg.Port))), "epoch", epoch)
	return epoch, nil
}

// addNonvoter lets a broker outside controller.quorum.voters follow the
// metadata log as a non-voting Raft member.
func (n *Node) addNonvoter(reg *controller.Broker) {
	if reg.ControllerAddr == "" {
		return
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	sid := raft.ServerID(strconv.Itoa(int(reg.ID)))
	for _, s := range f.Configuration().Servers {
		if s.ID == sid {
			return
		}
	}
	if err := n.raft.AddNonvoter(sid, raft.ServerAddress(reg.ControllerAddr), 0, 10*time.Second).Error(); err != nil {
		n.logger.Warn("could not add a broker to the metadata log as a non-voter", "broker", reg.ID, "err", err)
		return
	}
	n.logger.Info("broker follows the metadata log as a non-voter", "broker", reg.ID, "addr", reg.ControllerAddr)
}

// heartbeat renews a broker's lease; it unfences a fenced broker, and a
// broker that wants to shut down loses its leaderships and ISR places.
func (n *Node) heartbeat(req *kmsg.BrokerHeartbeatRequest, resp *kmsg.BrokerHeartbeatResponse) error {
	img := n.committed()
	b, ok := img.Brokers[req.BrokerID]
	if !ok || b.Epoch != req.BrokerEpoch {
		return controller.ErrStaleBrokerEpoch
	}
	if !n.IsController() {
		return ErrNotController
	}
	n.leases.touch(req.BrokerID, n.now())
	n.leases.report(req.BrokerID, req.CurrentMetadataOffset, n.committed().Offset, n.now())
	var err error
	switch {
	case req.WantShutdown && !b.ShuttingDown:
		err = n.decide(func(img *controller.Image) ([]controller.Record, error) {
			return controller.FenceBroker(img, req.BrokerID, true, n.unclean(img)), nil
		})
	case !req.WantShutdown && !req.WantFence && (b.Fenced || b.ShuttingDown):
		err = n.decide(func(img *controller.Image) ([]controller.Record, error) {
			return controller.UnfenceBroker(img, req.BrokerID, n.unclean(img)), nil
		})
		if err == nil {
			n.logger.Info("broker unfenced", "broker", req.BrokerID)
		}
	}
	if err != nil {
		return err
	}
	img = n.committed()
	b = img.Brokers[req.BrokerID]
	resp.IsCaughtUp = uint64(max(req.CurrentMetadataOffset, 0)) >= img.Offset
	resp.IsFenced = b.Fenced
	resp.ShouldShutdown = req.WantShutdown && len(controller.LedBy(img, req.BrokerID)) == 0
	return nil
}

// alterPartition applies a leader's ISR changes.
func (n *Node) alterPartition(req *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	if !n.IsController() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic, st.TopidID = rt.Topic, rt.TopicID
		name := rt.Topic
		if req.Version >= 2 {
			if t, ok := n.committed().TopicByID(rt.TopicID); ok {
				name = t.Name
			}
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			isr := rp.NewISR
			for _, e := range rp.NewEpochISR {
				isr = append(isr, e.BrokerID)
			}
			var state controller.Partition
			err := n.decide(func(img *controller.Image) ([]controller.Record, error) {
				rec, st, err := controller.AlterISR(img, req.BrokerID, req.BrokerEpoch, name, rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, isr)
				state = st
				if rec == nil {
					return nil, err
				}
				return []controller.Record{*rec}, err
			})
			sp.ErrorCode = errorCode(err)
			if err == nil {
				sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = state.Leader, state.LeaderEpoch, state.ISR, state.PartitionEpoch
				n.logger.Info("ISR changed", "topic", name, "partition", rp.Partition, "isr", state.ISR, "partitionEpoch", state.PartitionEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (n *Node) allocateProducerIDs(id int32, epoch int64) (int64, error) {
	var start int64
	err := n.decide(func(img *controller.Image) ([]controller.Record, error) {
		if b, ok := img.Brokers[id]; !ok || b.Epoch != epoch {
			return nil, controller.ErrStaleBrokerEpoch
		}
		start = img.NextProducerID
		return []controller.Record{{Type: controller.RecProducerIDs, NextProducerID: start + producerIDBlock}}, nil
	})
	return start, err
}

// leaderLoop runs the quorum leader's periodic duties: fencing brokers whose
// lease expired and moving leadership back to preferred replicas.
func (n *Node) leaderLoop() {
	defer n.wg.Done()
	session := ms(n.cfg.Int64("broker.session.timeout.ms"))
	rebalanceEvery := time.Duration(n.cfg.Int64("leader.imbalance.check.interval.seconds")) * time.Second
	tick := time.NewTicker(min(session/4, 250*time.Millisecond))
	defer tick.Stop()
	var wasLeader bool
	var lastRebalance time.Time
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		case <-n.leaderChange(): // take over at once, not at the next tick
		}
		leader := n.IsController()
		now := n.now()
		if leader && !wasLeader {
			// A new leader gives every broker a full session before
			// fencing it: their heartbeats went to the old leader.
			n.leases.mu.Lock()
			n.leases.last = map[int32]time.Time{}
			for id := range n.committed().Brokers {
				n.leases.last[id] = now
			}
			n.leases.conn = map[int32]<-chan struct{}{}
			n.leases.mu.Unlock()
			lastRebalance = now
			n.logger.Info("this node leads the metadata quorum")
			n.probeAll()
		}
		wasLeader = leader
		if !leader {
			continue
		}
		if n.committed().ClusterID == "" {
			n.nameCluster()
		}
		n.fenceExpired(now, session)
		if n.cfg.Bool("auto.leader.rebalance.enable") && now.Sub(lastRebalance) >= rebalanceEvery {
			lastRebalance = now
			if err := n.decide(func(img *controller.Image) ([]controller.Record, error) {
				return controller.PreferredElections(img, nil), nil
			}); err != nil {
				n.logger.Warn("preferred leader election failed", "err", err)
			}
		}
	}
}

// nameCluster writes the cluster id into a new metadata log, with the
// bootstrap records, if nothing has yet.
func (n *Node) nameCluster() {
	err := n.decide(func(img *controller.Image) ([]controller.Record, error) {
		return n.clusterRecords(img), nil
	})
	if err != nil {
		n.logger.Warn("naming the cluster failed", "err", err)
	}
}

// clusterRecords names the cluster in a new metadata log (with this node's
// id from meta.properties, else a new one) and adds the bootstrap records (a
// single broker's metadata from before the log); nothing once named.
func (n *Node) clusterRecords(img *controller.Image) []controller.Record {
	if img.ClusterID != "" {
		return nil
	}
	id := n.clusterID
	if id == "" {
		id = broker.NewClusterID()
	}
	recs := []controller.Record{{Type: controller.RecClusterID, ClusterID: id}}
	if n.bootstrap != nil {
		recs = append(recs, n.bootstrap(img)...)
	}
	n.logger.Info("naming the cluster in the metadata log", "cluster.id", id, "records", len(recs))
	return recs
}

// fenceExpired fences the live brokers whose last heartbeat is older than
// the session timeout.
func (n *Node) fenceExpired(now time.Time, session time.Duration) {
	img := n.committed()
	for _, b := range img.LiveBrokers() {
		if b.ID == n.id {
			// This process runs the quorum leader: its own broker is
			// alive (a pause, say under SIGSTOP, must not fence it at
			// the first tick after it resumes).
			continue
		}
		n.leases.mu.Lock()
		last, ok := n.leases.last[b.ID]
		if !ok {
			n.leases.last[b.ID], last = now, now
		}
		n.leases.mu.Unlock()
		if now.Sub(last) < session {
			continue
		}
		err := n.decide(func(img *controller.Image) ([]controller.Record, error) {
			if !img.Live(b.ID) {
				return nil, nil
			}
			return controller.FenceBroker(img, b.ID, false, n.unclean(img)), nil
		})
		if err != nil {
			n.logger.Warn("fencing a broker failed", "broker", b.ID, "err", err)
			continue
		}
		n.logger.Warn("broker fenced: no heartbeat within broker.session.timeout.ms", "broker", b.ID, "silentFor", now.Sub(last).Round(time.Millisecond))
	}
}
