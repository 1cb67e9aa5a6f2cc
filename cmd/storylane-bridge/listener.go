package main

import (
	"net"
	"net/netip"
	"sync"

	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

// guardListener refuses connections at accept: from outside the allow-list
// when the peer is the client (no trusted proxy), and past a client's
// share of open connections (trusted proxies, which carry many clients,
// exempt).
type guardListener struct {
	net.Listener
	max     int
	trusted []netip.Prefix
	allowed []netip.Prefix

	mu   sync.Mutex
	open map[netip.Addr]int
}

func newGuardListener(ln net.Listener, max int, trusted, allowed []netip.Prefix) net.Listener {
	if len(trusted) > 0 {
		allowed = nil // the proxy's address says nothing; the handler checks
	}
	if max <= 0 && len(allowed) == 0 {
		return ln
	}
	return &guardListener{Listener: ln, max: max, trusted: trusted, allowed: allowed, open: map[netip.Addr]int{}}
}

func (g *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			return c, nil
		}
		ip := ap.Addr().Unmap()
		if len(g.allowed) > 0 && !contains(g.allowed, ip) {
			c.Close()
			continue
		}
		if g.max <= 0 || contains(g.trusted, ip) {
			return c, nil
		}
		key := ingress.ClientKey(ip)
		g.mu.Lock()
		if g.open[key] >= g.max {
			g.mu.Unlock()
			c.Close()
			continue
		}
		g.open[key]++
		g.mu.Unlock()
		return &countedConn{Conn: c, release: func() { g.release(key) }}, nil
	}
}

func (g *guardListener) release(key netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open[key]--; g.open[key] <= 0 {
		delete(g.open, key)
	}
}

func contains(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// countedConn gives its client's share back once, when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
