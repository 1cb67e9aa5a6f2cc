package ingress

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientIP is the address a request comes from: the peer, or, when the
// peer is a trusted proxy, the last address in X-Forwarded-For that is not
// a trusted proxy. Without trusted proxies the header is ignored, since
// anyone can send it.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return clientIPFrom(r, peerIP(r), trusted)
}

// clientIPFrom is clientIP for a request whose peer address is known.
func clientIPFrom(r *http.Request, peer netip.Addr, trusted []netip.Prefix) netip.Addr {
	if !inAny(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(strings.TrimSpace(hops[i]))
		if !ok {
			return peer // a garbled chain proves nothing beyond the proxy
		}
		if !inAny(ip, trusted) {
			return ip
		}
	}
	return peer
}

// parseHop reads one X-Forwarded-For entry: an address, perhaps with a port.
func parseHop(s string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// ClientKey is what limits count a client by: its address, or for IPv6
// its /64, which one host commonly holds whole.
func ClientKey(ip netip.Addr) netip.Addr {
	if ip.Is6() && !ip.Is4In6() {
		return netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	return ip
}

func peerIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func inAny(ip netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// maxClients bounds the clients a limiter remembers: past it, idle ones
// are forgotten, and if that is not enough, all of them, so that a flood
// from many addresses costs bounded memory.
const maxClients = 100_000

// limiters keeps a token bucket per client address, forgetting clients
// idle for a while so the map stays bounded by the active ones.
type limiters struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	clients map[netip.Addr]*client
	swept   time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

// forgetAfter is how long an idle client's bucket is kept; by then it is
// full again unless the rate is below a token a minute.
const forgetAfter = time.Minute

func newLimiters(perSecond float64, burst int) *limiters {
	return &limiters{limit: rate.Limit(perSecond), burst: max(burst, 1), clients: map[netip.Addr]*client{}}
}

// allow takes a token for ip; when there is none it says how long until
// there is.
func (l *limiters) allow(ip netip.Addr, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > forgetAfter || len(l.clients) >= maxClients {
		for a, c := range l.clients {
			if now.Sub(c.seen) > forgetAfter {
				delete(l.clients, a)
			}
		}
		if len(l.clients) >= maxClients {
			clear(l.clients)
		}
		l.swept = now
	}
	c, ok := l.clients[ip]
	if !ok {
		c = &client{lim: rate.NewLimiter(l.limit, l.burst)}
		l.clients[ip] = c
	}
	c.seen = now
	r := c.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// retryAfterSeconds is a Retry-After value of at least one second.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// guard wraps the webhook handler with the defences against hostile or
// excessive traffic, cheapest first: the allow-list (403), the per-client
// rate limit (429), then the bound on webhooks handled at once (503), so a
// flood is refused before its bodies are read.
func (s *Server) guard(next http.Handler) http.Handler {
	var slots chan struct{}
	if s.cfg.MaxConcurrent > 0 {
		slots = make(chan struct{}, s.cfg.MaxConcurrent)
	}
	var lims *limiters
	if s.cfg.RateLimit > 0 {
		lims = newLimiters(s.cfg.RateLimit, s.cfg.RateBurst)
	}
	perClient := newClientSlots(s.cfg.MaxConcurrentPerClient)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := s.client(r)
		if len(s.cfg.AllowCIDRs) > 0 && !inAny(ip, s.cfg.AllowCIDRs) {
			s.reject(w, r, outcomeForbidden, http.StatusForbidden, "source address not allowed", "")
			return
		}
		key := ClientKey(ip)
		if lims != nil {
			if ok, wait := lims.allow(key, s.cfg.Now()); !ok {
				s.reject(w, r, outcomeRateLimited, http.StatusTooManyRequests, "too many requests", retryAfterSeconds(wait))
				return
			}
		}
		// One client cannot take every slot, with slow bodies say.
		if !perClient.take(key) {
			s.reject(w, r, outcomeShed, http.StatusServiceUnavailable, "too many requests in flight from this client, retry later", "1")
			return
		}
		defer perClient.give(key)
		if slots != nil {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			default:
				s.reject(w, r, outcomeShed, http.StatusServiceUnavailable, "overloaded, retry later", "1")
				return
			}
		}
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		next.ServeHTTP(w, r)
	})
}

// reject answers a request refused before it was read.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, outcome string, status int, msg, retryAfter string) {
	s.metrics.webhook(outcome)
	markRejected(r)
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeError(w, r, status, msg)
}

// clientSlots bounds the requests one client has in flight at once.
type clientSlots struct {
	max    int
	mu     sync.Mutex
	counts map[netip.Addr]int
}

func newClientSlots(max int) *clientSlots {
	return &clientSlots{max: max, counts: map[netip.Addr]int{}}
}

func (c *clientSlots) take(key netip.Addr) bool {
	if c.max <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[key] >= c.max {
		return false
	}
	c.counts[key]++
	return true
}

func (c *clientSlots) give(key netip.Addr) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[key]--; c.counts[key] <= 0 {
		delete(c.counts, key)
	}
}
