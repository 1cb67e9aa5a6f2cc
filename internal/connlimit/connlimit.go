// Package connlimit bounds a server's open connections, in all and per
// client address, without turning away a client that is about to send a
// request: at a bound it makes room by closing the connection that has waited
// longest while idle or before finishing its request headers, and it refuses
// a new connection only when every connection it could close is serving a
// request.
//
// The states come from http.Server.ConnState: net/http reports a connection
// active only once a request's headers are read, so a connection still new
// or idle has no request being served and closing it loses nothing that was
// accepted.
package connlimit

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Config sets the bounds of a Limiter.
type Config struct {
	// MaxConns bounds the open connections; 0 for no bound.
	MaxConns int
	// MaxPerClient bounds those of one client key; 0 for no bound.
	MaxPerClient int
	// Exempt peers carry many clients (trusted proxies): only MaxConns
	// counts them.
	Exempt []netip.Prefix
	// Allow, when set, are the only peers served; others are closed at
	// accept.
	Allow []netip.Prefix
	// Key maps a peer's address to the client it counts as (an IPv6 /64,
	// say); nil counts each address.
	Key func(netip.Addr) netip.Addr
	// NewGrace is how long a connection must have waited for its first
	// request's headers, or been idle, before it may be closed to make
	// room: a burst of new connections from one sender must not close each
	// other before any could send, nor a client's next request meet its
	// keep-alive connection closing. Default one second.
	NewGrace time.Duration
	// PlainHTTP says the connections carry plain HTTP: a refused one may be
	// answered with an HTTP 503 (on a TLS listener it is closed, as no
	// handshake was made), and net/http's own plain-text 431 is answered in
	// JSON instead.
	PlainHTTP bool
	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

// DefaultNewGrace is Config.NewGrace when it is zero.
const DefaultNewGrace = time.Second

// Limiter tracks the connections of one listener.
type Limiter struct {
	cfg     Config
	logger  *zap.Logger
	metrics *Metrics
	logRate *rate.Limiter
	refusal chan struct{} // bounds the refusals being answered at once

	mu      sync.Mutex
	total   int
	clients map[netip.Addr]*client
}

// client holds the connections of one client key.
type client struct {
	open   int
	exempt bool // a trusted proxy's: made room from last
	lists
}

// lists holds the connections that may be closed to make room, oldest in
// their state first.
type lists struct {
	idle, fresh list.List
}

// New returns a Limiter. metrics may be nil.
func New(cfg Config, logger *zap.Logger, metrics *Metrics) *Limiter {
	if cfg.NewGrace <= 0 {
		cfg.NewGrace = DefaultNewGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Key == nil {
		cfg.Key = func(a netip.Addr) netip.Addr { return a }
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Limiter{cfg: cfg, logger: logger, metrics: metrics, clients: map[netip.Addr]*client{},
		logRate: rate.NewLimiter(logRate, logBurst), refusal: make(chan struct{}, maxRefusing)}
}

// Evictions and refusals are logged at most this often, with bursts.
const (
	logRate  = 2
	logBurst = 10
)

// Listener returns ln guarded by l. Serve it with an http.Server whose
// ConnState is l.ConnState.
func (l *Limiter) Listener(ln net.Listener) net.Listener {
	return &listener{Listener: ln, l: l}
}

// ConnState is the http.Server hook that keeps the connections' states.
func (l *Limiter) ConnState(c net.Conn, state http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	tc, ok := c.(*conn)
	if !ok {
		return
	}
	switch state {
	case http.StateIdle:
		l.setState(tc, stateIdle)
	case http.StateActive, http.StateHijacked:
		l.setState(tc, stateServing)
	case http.StateClosed:
		l.release(tc)
	}
}

// admit counts a new connection from peer, closing another to make room
// when a bound is reached. It returns the connection to serve, or a reason
// for refusing it.
func (l *Limiter) admit(nc net.Conn, peer netip.Addr) (*conn, string) {
	if len(l.cfg.Allow) > 0 && !contains(l.cfg.Allow, peer) {
		return nil, reasonNotAllowed
	}
	key := l.cfg.Key(peer)
	exempt := contains(l.cfg.Exempt, peer)
	perClient := l.cfg.MaxPerClient > 0 && !exempt
	now := l.cfg.Now()
	var victims []*conn
	l.mu.Lock()
	defer func() {
		l.mu.Unlock()
		for _, v := range victims {
			v.Conn.Close()
		}
	}()
	cl := l.clients[key]
	if perClient && cl != nil && cl.open >= l.cfg.MaxPerClient {
		v := l.victim(&cl.lists, now)
		if v == nil {
			return nil, reasonClientBusy
		}
		victims = append(victims, l.evict(v, boundPerClient))
	}
	if l.cfg.MaxConns > 0 && l.total >= l.cfg.MaxConns {
		v := l.anyVictim(now)
		if v == nil {
			return nil, reasonAllBusy
		}
		victims = append(victims, l.evict(v, boundGlobal))
	}
	// An eviction may have forgotten the client whose last connection it
	// closed.
	if cl = l.clients[key]; cl == nil {
		cl = &client{exempt: exempt}
		l.clients[key] = cl
	}
	c := &conn{Conn: nc, l: l, client: cl, key: key, peer: peer}
	cl.open++
	l.total++
	l.metrics.open.Set(float64(l.total))
	l.enter(c, cl, stateNew, now)
	return c, ""
}

// victim is the connection of one client to close to make room: the one
// that has waited longest for its first request's headers, or else the one
// idle longest, either only past the grace. A client sends its headers at
// once; a connection idle for a moment is likely to carry its client's next
// request any time now: closed as it is reused, that request would fail,
// and an HTTP client retries only requests it may send twice, which a
// webhook's POST is not.
func (l *Limiter) victim(ls *lists, now time.Time) *conn {
	for _, q := range []*list.List{&ls.fresh, &ls.idle} {
		if e := q.Front(); e != nil {
			if c := e.Value.(*conn); now.Sub(c.since) >= l.cfg.NewGrace {
				return c
			}
		}
	}
	return nil
}

// anyVictim is the connection to close to make room at the global bound:
// the victim of the client holding the most connections, so that those who
// open many make room first, and a trusted proxy's, carrying many clients,
// only when no other has one. It looks at every client: this runs only at
// the bound.
func (l *Limiter) anyVictim(now time.Time) *conn {
	var best *conn
	var bestClient *client
	for _, cl := range l.clients {
		if bestClient != nil && (cl.exempt && !bestClient.exempt || cl.exempt == bestClient.exempt && cl.open <= bestClient.open) {
			continue
		}
		if v := l.victim(&cl.lists, now); v != nil {
			best, bestClient = v, cl
		}
	}
	return best
}

// evict forgets v at once, so its place is free, and returns it for
// closing outside the lock.
func (l *Limiter) evict(v *conn, bound string) *conn {
	state := v.state
	l.forget(v)
	l.metrics.evicted.WithLabelValues(bound, state.String()).Inc()
	if l.logRate.Allow() {
		l.logger.Info("connection closed to make room", zap.String("bound", bound), zap.String("state", state.String()),
			zap.Stringer("client", v.peer), zap.Duration("in_state", l.cfg.Now().Sub(v.since)))
	}
	return v
}

func (l *Limiter) setState(c *conn, s state) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.gone || c.state == s {
		return
	}
	l.leave(c)
	l.enter(c, c.client, s, l.cfg.Now())
}

// enter puts c in state s, on the lists of connections that may be closed
// when s allows it.
func (l *Limiter) enter(c *conn, cl *client, s state, now time.Time) {
	c.state, c.since = s, now
	switch s {
	case stateNew:
		c.elem = cl.fresh.PushBack(c)
	case stateIdle:
		c.elem = cl.idle.PushBack(c)
	}
}

// leave takes c off the lists of its state.
func (l *Limiter) leave(c *conn) {
	if c.elem == nil {
		return
	}
	switch c.state {
	case stateNew:
		c.client.fresh.Remove(c.elem)
	case stateIdle:
		c.client.idle.Remove(c.elem)
	}
	c.elem = nil
}

// forget stops counting c; later calls do nothing.
func (l *Limiter) forget(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	l.leave(c)
	if c.client.open--; c.client.open == 0 {
		delete(l.clients, c.key)
	}
	l.total--
	l.metrics.open.Set(float64(l.total))
}

func (l *Limiter) release(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forget(c)
}

func contains(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
