package cluster

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestClusterProxyRefuse: after Refuse a dial to the proxy is refused
// (ECONNREFUSED, not accepted and reset), a connection open before it
// goes on forwarding, and after Listen the same address forwards again.
func TestClusterProxyRefuse(t *testing.T) {
	p := newTestProxy(t, startEcho(t))
	before := dialEcho(t, p.Addr())
	before.mustEcho("one")

	if err := p.Refuse(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial while refusing: %v, want connection refused", err)
	}
	before.mustEcho("two")

	if err := p.Listen(); err != nil {
		t.Fatal(err)
	}
	dialEcho(t, p.Addr()).mustEcho("three")
	if err := p.Refuse(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close while refusing: %v", err)
	}
	if err := p.Listen(); !errors.Is(err, ErrProxyClosed) {
		t.Fatalf("Listen after Close: %v, want ErrProxyClosed", err)
	}
}
