package cluster

// The broker's side of membership: register with the quorum leader, keep
// the lease with heartbeats, report ISR changes of the partitions this
// broker leads, and shut down in a controlled way.

import (
	"context"
	"encoding/hex"
	"errors"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/wire"
)

// callController sends a KRaft request to the quorum leader (answering it
// locally when this node leads).
func (n *Node) callController(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	switch leader := n.ControllerID(); {
	case leader == n.id:
		return n.ServeController(ctx, req, nil)
	case leader < 0:
		return n.requestVoters(ctx, req)
	default:
		return n.request(ctx, leader, req)
	}
}

// requestVoters sends req to the voters' controller listeners in turn until
// one (the quorum leader) answers it: how a broker outside the voters,
// which has no Raft leader to ask yet, registers.
func (n *Node) requestVoters(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	for _, id := range slices.Sorted(maps.Keys(n.voters)) {
		if id == n.id {
			continue
		}
		resp, err := n.requestAddr(ctx, n.voters[id], req)
		if err != nil {
			continue
		}
		if code := responseCode(resp); code == kerr.NotController.Code {
			continue
		}
		return resp, nil
	}
	return nil, ErrNotController
}

func (n *Node) requestAddr(ctx context.Context, addr string, req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := wire.Dial(ctx, addr, "gregor-broker-"+strconv.Itoa(int(n.id)))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Request(ctx, req)
}

// responseCode is the top-level error code of a KRaft response.
func responseCode(resp kmsg.Response) int16 {
	switch r := resp.(type) {
	case *kmsg.BrokerRegistrationResponse:
		return r.ErrorCode
	case *kmsg.BrokerHeartbeatResponse:
		return r.ErrorCode
	case *kmsg.AlterPartitionResponse:
		return r.ErrorCode
	case *kmsg.AllocateProducerIDsResponse:
		return r.ErrorCode
	}
	return 0
}

func (n *Node) registrationRequest() *kmsg.BrokerRegistrationRequest {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.SetVersion(0)
	req.BrokerID = n.id
	req.ClusterID = n.clusterID
	inc, _ := hex.DecodeString(n.incarnation)
	copy(req.IncarnationID[:], inc)
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", n.host, uint16(n.port)
	req.Listeners = append(req.Listeners, l)
	if host, port, err := net.SplitHostPort(n.raftAddr); err == nil {
		p, _ := strconv.Atoi(port)
		c := kmsg.NewBrokerRegistrationRequestListener()
		c.Name, c.Host, c.Port = "CONTROLLER", host, uint16(p)
		req.Listeners = append(req.Listeners, c)
	}
	if rack := n.cfg.String("broker.rack"); rack != "" {
		req.Rack = &rack
	}
	return req
}

// memberLoop registers this broker and then heartbeats every
// broker.heartbeat.interval.ms until Close, registering again when the
// controller no longer knows the epoch. Failures back off exponentially
// (with jitter) from 100 ms to the heartbeat interval, so a broker that
// cannot reach the quorum neither spins nor floods the log.
func (n *Node) memberLoop() {
	defer n.wg.Done()
	interval := ms(n.cfg.Int64("broker.heartbeat.interval.ms"))
	bo := backoff{min: min(100*time.Millisecond, interval), max: interval}
	wait := n.sleep
	for n.ctx.Err() == nil {
		if n.brokerEpoch.Load() < 0 {
			leaderChange := n.leaderChange()
			if n.ControllerID() < 0 && len(n.voters) == 1 {
				// A one-voter quorum elects itself at once: wait for it
				// rather than fail and back off.
				select {
				case <-leaderChange:
				case <-n.ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
			if err := n.register(); err != nil {
				if errors.Is(err, kerr.InconsistentClusterID) {
					n.logger.Error("the metadata quorum refused this broker", "err", err)
					n.fail(err)
					return
				}
				n.logger.Debug("registration failed; retrying", "err", err)
				if !wait(bo.next()) {
					return
				}
				continue
			}
			n.b.PrefetchProducerIDs()
		}
		fenced, err := n.sendHeartbeat(false)
		switch {
		case errors.Is(err, kerr.StaleBrokerEpoch):
			n.logger.Warn("the controller no longer knows this broker's epoch; registering again")
			n.brokerEpoch.Store(-1)
			if !wait(bo.next()) {
				return
			}
			continue
		case err != nil:
			n.logger.Debug("heartbeat failed", "err", err)
			if !wait(bo.next()) {
				return
			}
			continue
		case fenced:
			if !wait(bo.next()) {
				return
			}
			continue
		}
		bo.reset()
		if !wait(interval) {
			return
		}
	}
}

// backoff is an exponential backoff with full jitter in [d/2, d].
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	b.cur = min(max(2*b.cur, b.min), b.max)
	return b.cur/2 + time.Duration(rand.Int64N(int64(b.cur/2)+1))
}

func (b *backoff) reset() { b.cur = 0 }

func (n *Node) register() error {
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	resp, err := n.callController(ctx, n.registrationRequest())
	if err != nil {
		return err
	}
	r := resp.(*kmsg.BrokerRegistrationResponse)
	if err := codeErr(r.ErrorCode, nil); err != nil {
		return err
	}
	n.brokerEpoch.Store(r.BrokerEpoch)
	n.logger.Info("registered with the controller", "epoch", r.BrokerEpoch, "controller", n.ControllerID())
	return nil
}

// sendHeartbeat sends one heartbeat and reports whether the broker is still
// fenced.
func (n *Node) sendHeartbeat(wantShutdown bool) (fenced bool, err error) {
	timeout := 5 * time.Second
	if wantShutdown {
		timeout = time.Second // shutdown must not hang on a silent quorum
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch = n.id, n.brokerEpoch.Load()
	req.CurrentMetadataOffset = int64(n.Image().Offset)
	req.WantShutdown = wantShutdown
	resp, err := n.callController(ctx, req)
	if err != nil {
		return true, err
	}
	r := resp.(*kmsg.BrokerHeartbeatResponse)
	if err := codeErr(r.ErrorCode, nil); err != nil {
		return true, err
	}
	if wantShutdown && !r.ShouldShutdown {
		return true, errNotYet
	}
	return r.IsFenced, nil
}

var errNotYet = errors.New("cluster: controlled shutdown not finished")

// controlledShutdown asks the controller to move every leadership off this
// broker and waits (bounded by ctx) until it has, so that clients never
// find these partitions without a leader. With no quorum to answer (the
// last node of a cluster going down, say) there is nobody to move
// leadership to: it gives up after noQuorumGrace and says so.
func (n *Node) controlledShutdown(ctx context.Context) {
	if n.brokerEpoch.Load() < 0 {
		return
	}
	n.shutdown.Store(true)
	start := n.now()
	var lastAnswer time.Time = start
	for {
		_, err := n.sendHeartbeat(true)
		if err == nil {
			n.logger.Info("controlled shutdown: no partition led here any more", "took", n.now().Sub(start).Round(time.Millisecond))
			return
		}
		if !errors.Is(err, ErrNotController) && !errors.Is(err, context.DeadlineExceeded) && n.ControllerID() >= 0 {
			lastAnswer = n.now() // a quorum answers, not done yet
		}
		if n.now().Sub(lastAnswer) >= noQuorumGrace {
			n.logger.Warn("controlled shutdown skipped: no metadata quorum answers; partitions led here stay without a leader until a quorum elects one", "waited", n.now().Sub(start).Round(time.Millisecond), "err", err)
			return
		}
		select {
		case <-ctx.Done():
			n.logger.Warn("controlled shutdown did not finish in time", "err", err)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// noQuorumGrace is how long controlled shutdown waits for a quorum that
// does not answer.
const noQuorumGrace = 2 * time.Second

// isrLoop asks the controller to shrink or expand the ISR of the partitions
// this broker leads, as their followers fall behind or catch up.
func (n *Node) isrLoop() {
	defer n.wg.Done()
	lagMax := ms(n.cfg.Int64("replica.lag.time.max.ms"))
	tick := time.NewTicker(max(min(lagMax/4, 250*time.Millisecond), 20*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
		if n.brokerEpoch.Load() < 0 {
			continue
		}
		img := n.committed()
		req := kmsg.NewPtrAlterPartitionRequest()
		req.SetVersion(1)
		req.BrokerID, req.BrokerEpoch = n.id, n.brokerEpoch.Load()
		now := n.now()
		count := 0
		oldISR := map[tpKey]int{}
		for _, lp := range n.apply.leading() {
			t, ok := img.Topics[lp.topic]
			if !ok || int(lp.index) >= len(t.Partitions) {
				continue
			}
			st := t.Partitions[lp.index]
			if st.Leader != n.id {
				continue
			}
			isr, changed := lp.p.ISRUpdate(now, lagMax)
			if !changed {
				continue
			}
			rt := topicEntry(req, lp.topic)
			rp := kmsg.NewAlterPartitionRequestTopicPartition()
			rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = lp.index, st.LeaderEpoch, st.PartitionEpoch, isr
			rt.Partitions = append(rt.Partitions, rp)
			oldISR[tpKey{lp.topic, lp.index}] = len(st.ISR)
			count++
		}
		if count == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		resp, err := n.callController(ctx, req)
		cancel()
		if err != nil {
			n.logger.Debug("AlterPartition failed", "err", err)
			continue
		}
		r := resp.(*kmsg.AlterPartitionResponse)
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					n.logger.Info("ISR change refused", "topic", rt.Topic, "partition", rp.Partition, "err", kerr.ErrorForCode(rp.ErrorCode))
					continue
				}
				n.metrics.ISRChange(oldISR[tpKey{rt.Topic, rp.Partition}], len(rp.ISR))
			}
		}
	}
}

func topicEntry(req *kmsg.AlterPartitionRequest, topic string) *kmsg.AlterPartitionRequestTopic {
	for i := range req.Topics {
		if req.Topics[i].Topic == topic {
			return &req.Topics[i]
		}
	}
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic = topic
	req.Topics = append(req.Topics, rt)
	return &req.Topics[len(req.Topics)-1]
}

// registered reports whether img holds this process's registration, unfenced.
func (n *Node) registered(img *controller.Image) bool {
	b, ok := img.Brokers[n.id]
	return ok && b.Incarnation == n.incarnation && !b.Fenced && !b.ShuttingDown
}
