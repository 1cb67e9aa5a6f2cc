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

	"go.uber.org/zap"
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
// rate limit (429), then the client's share of webhooks handled at once,
// where a webhook waits its turn for a while before it is shed (503): all
// before its body is read. The bound on all webhooks at once applies once
// the signature is verified.
func (s *Server) guard(next http.Handler) http.Handler {
	var lims *limiters
	if s.cfg.RateLimit > 0 {
		lims = newLimiters(s.cfg.RateLimit, s.cfg.RateBurst)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := s.client(r)
		if len(s.cfg.AllowCIDRs) > 0 && !inAny(ip, s.cfg.AllowCIDRs) {
			s.refuse(w, r, boundAllowCIDRs, outcomeForbidden, http.StatusForbidden, "source address not allowed", "")
			return
		}
		key := ClientKey(ip)
		if lims != nil {
			if ok, wait := lims.allow(key, s.cfg.Now()); !ok {
				s.refuse(w, r, boundRateLimit, outcomeRateLimited, http.StatusTooManyRequests, "too many requests", retryAfterSeconds(wait))
				return
			}
		}
		leave, bound := s.admit.enterClient(r.Context(), key)
		if leave == nil {
			s.shed(w, r, bound)
			return
		}
		defer leave()
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		next.ServeHTTP(w, r)
	})
}

// shed answers 503 to a webhook that found no room in time under bound;
// with no bound, the client left while it waited, and nothing is counted.
func (s *Server) shed(w http.ResponseWriter, r *http.Request, bound string) {
	if bound == "" {
		annotate(r, zap.String("gone", "the client left while waiting for its turn"))
		writeError(w, r, http.StatusServiceUnavailable, "client gone")
		return
	}
	msg := "overloaded, retry later"
	if bound == boundPerClient {
		msg = "too many requests in flight from this client, retry later"
	}
	s.refuse(w, r, bound, outcomeShed, http.StatusServiceUnavailable, msg, "1")
}

// refuse answers a webhook refused by one of the defences, and says which
// in its log line and metric.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, bound, outcome string, status int, msg, retryAfter string) {
	s.metrics.refused(bound)
	annotate(r, zap.String("refused_by", bound))
	s.reject(w, r, outcome, status, msg, retryAfter)
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
