package wire

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	// ErrUnknownBroker means resolve did not know the broker id.
	ErrUnknownBroker = errors.New("wire: unknown broker")
	// ErrPoolClosed is returned by a closed Pool.
	ErrPoolClosed = errors.New("wire: pool closed")
)

// Pool keeps one Conn per broker id, dialing lazily and again after a
// failed request or when the broker's resolved address changed.
//
// Requests to the same broker share its one Conn and so wait for each
// other: a component that long-polls (follower fetches) should have its own
// Pool so that it does not delay short RPCs to the same broker.
type Pool struct {
	clientID string
	resolve  func(id int32) (addr string, ok bool)

	mu     sync.Mutex // guards conns and closed; never held during I/O
	conns  map[int32]*poolEntry
	closed bool
}

// poolEntry serializes dialing for one broker; its mutex is held while
// dialing but not during requests (the Conn serializes those).
type poolEntry struct {
	mu   sync.Mutex
	conn *Conn // nil until dialed; guarded by mu
}

// NewPool returns a Pool that finds brokers' addresses through resolve,
// which is called before every request (it must be cheap and safe for
// concurrent use).
func NewPool(clientID string, resolve func(id int32) (addr string, ok bool)) *Pool {
	return &Pool{clientID: clientID, resolve: resolve, conns: make(map[int32]*poolEntry)}
}

// Request sends req to broker id, see Conn.Request. On an error the Conn
// was closed and the next Request dials again; Request itself does not
// retry, since the caller knows whether the request is safe to repeat.
func (p *Pool) Request(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	c, err := p.conn(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.Request(ctx, req)
}

// RequestInto sends req to broker id reading the response into *frame, see
// Conn.RequestInto.
func (p *Pool) RequestInto(ctx context.Context, id int32, req kmsg.Request, frame *[]byte) (kmsg.Response, error) {
	c, err := p.conn(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.RequestInto(ctx, req, frame)
}

func (p *Pool) conn(ctx context.Context, id int32) (*Conn, error) {
	addr, ok := p.resolve(id)
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	e := p.conns[id]
	if e == nil {
		e = new(poolEntry)
		p.conns[id] = e
	}
	p.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil && !e.conn.Closed() && e.conn.Addr() == addr {
		return e.conn, nil
	}
	if e.conn != nil {
		e.conn.Close() // moved: requests in flight on the old address fail
		e.conn = nil
	}
	c, err := Dial(ctx, addr, p.clientID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed { // Close ran while we dialed
		c.Close()
		return nil, ErrPoolClosed
	}
	if p.conns[id] != e { // Forget ran while we dialed
		c.Close()
		return nil, fmt.Errorf("%w: %d (forgotten)", ErrUnknownBroker, id)
	}
	e.conn = c
	return c, nil
}

// Forget closes the Conn to broker id, if any (for example when the broker
// left the cluster).
func (p *Pool) Forget(id int32) {
	p.mu.Lock()
	e := p.conns[id]
	delete(p.conns, id)
	p.mu.Unlock()
	if e != nil {
		e.mu.Lock()
		if e.conn != nil {
			e.conn.Close()
		}
		e.mu.Unlock()
	}
}

// Close closes all connections; requests in progress fail and later ones
// return ErrPoolClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[int32]*poolEntry{}
	p.mu.Unlock()
	for _, e := range conns {
		e.mu.Lock()
		if e.conn != nil {
			e.conn.Close()
		}
		e.mu.Unlock()
	}
	return nil
}
