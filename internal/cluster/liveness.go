package cluster

// Fast fencing of dead brokers. A broker's lease lasts
// broker.session.timeout.ms (Kafka's 9 s by default) from its last
// heartbeat, and a partition it leads takes no acks=all write until it is
// fenced and another replica leads: a 9-second stall when its process dies.
// But a process that dies closes its connections, and its host then
// refuses new ones. So the quorum leader watches the connection each
// broker's heartbeats come over; when it closes and no heartbeat has come
// over another since, it asks the broker's listener for ApiVersions, and
// fences the broker at once if the listener refuses or drops the
// connection. A broker that answers, or a probe that times out (a hung
// process, a dead host, a partition that drops packets), keeps its lease
// until the session timeout, as in Kafka. A node that becomes the quorum
// leader probes every broker at once in the same way: the leader it
// replaces may have died with a broker it was the only one to watch (its
// own).

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/wire"
)

const (
	// probeDelay separates a connection's close from the probe, so that
	// a dying process has closed its listener too and a broker that only
	// lost one connection can heartbeat over a new one.
	probeDelay = 100 * time.Millisecond
	// probeTimeout bounds a probe; a listener that neither answers nor
	// refuses within it is left to the session timeout.
	probeTimeout = time.Second
)

// watchConn notes that broker id (at epoch) heartbeats over a connection
// that closes closed, and fences the broker quickly if the connection closes
// because its process died.
func (n *Node) watchConn(id int32, epoch int64, closed <-chan struct{}) {
	if closed == nil || n.ctx.Err() != nil {
		return
	}
	l := n.leases
	l.mu.Lock()
	if l.conn[id] == closed {
		l.mu.Unlock()
		return
	}
	l.conn[id] = closed
	l.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		select {
		case <-closed:
		case <-n.ctx.Done():
			return
		}
		if !n.sleep(probeDelay) {
			return
		}
		l.mu.Lock()
		current := l.conn[id] == closed
		if current {
			delete(l.conn, id)
		}
		l.mu.Unlock()
		if current {
			n.fenceIfDead(id, epoch, "its heartbeat connection closed")
		}
	}()
}

// probeAll probes every other live broker, as a new quorum leader.
func (n *Node) probeAll() {
	for _, b := range n.committed().LiveBrokers() {
		if b.ID == n.id {
			continue
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.fenceIfDead(b.ID, b.Epoch, "this node became the quorum leader")
		}()
	}
}

// fenceIfDead fences broker id if it is still live at epoch, this node still
// leads the quorum, and the broker's listener refuses a probe.
func (n *Node) fenceIfDead(id int32, epoch int64, why string) {
	b, ok := n.committed().Brokers[id]
	if !ok || b.Epoch != epoch || b.Fenced || !n.IsController() {
		return
	}
	addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	perr := n.probe(addr)
	if perr == nil || n.ctx.Err() != nil {
		return
	}
	if !refused(perr) {
		n.logger.Info("broker probe failed; its session timeout decides", "broker", id, "addr", addr, "why", why, "err", perr)
		return
	}
	err := n.decide(func(img *controller.Image) ([]controller.Record, error) {
		if b, ok := img.Brokers[id]; !ok || b.Epoch != epoch || !img.Live(id) {
			return nil, nil
		}
		return controller.FenceBroker(img, id, false, n.unclean(img)), nil
	})
	if err != nil {
		n.logger.Warn("fencing a dead broker failed", "broker", id, "err", err)
		return
	}
	n.logger.Warn("broker fenced: its listener refuses connections", "broker", id, "addr", addr, "why", why, "probe", perr)
}

// probe asks addr for ApiVersions on a new connection; nil if it answers.
func (n *Node) probe(addr string) error {
	ctx, cancel := context.WithTimeout(n.ctx, probeTimeout)
	defer cancel()
	c, err := wire.Dial(ctx, addr, "gregor-controller-"+strconv.Itoa(int(n.id)))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Request(ctx, kmsg.NewPtrApiVersionsRequest())
	return err
}

// refused reports whether a probe's error says that nothing listens at the
// address (connection refused, or accepted and then reset or closed before
// an answer, as a proxy or load balancer in front of a dead process does),
// rather than that the probe ran out of time.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// sleep waits d, false if the node stops first.
func (n *Node) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
