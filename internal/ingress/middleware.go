package ingress

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"regexp"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// RequestIDHeader carries a request's id in and out.
const RequestIDHeader = "X-Request-Id"

// validRequestID keeps an id taken from a client safe to log and echo.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

type ctxKey struct{}

// requestInfo travels in a request's context so handlers can add fields to
// its one log line.
type requestInfo struct {
	id       string
	client   netip.Addr // worked out once, for the log line and the guard
	trusted  bool       // the peer is a trusted proxy
	fields   []zap.Field
	rejected bool // refused as hostile or excessive: logged at a bounded rate
	// buf holds the fields of most lines, so a request's line costs no
	// allocation of its own.
	buf [16]zap.Field
}

func requestID(r *http.Request) string {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// client is the request's client address, as the request log worked it
// out, or worked out now for a request that did not pass through it.
func (s *Server) client(r *http.Request) netip.Addr {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return info.client
	}
	return clientIP(r, s.cfg.TrustedProxies)
}

// fromTrustedProxy reports whether the request's peer is a trusted proxy,
// whose headers about the request (its id, its client, its trace) count.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return info.trusted
	}
	return inAny(peerIP(r), s.cfg.TrustedProxies)
}

// annotate adds fields to the request's log line.
func annotate(r *http.Request, fields ...zap.Field) {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		info.fields = append(info.fields, fields...)
	}
}

// markRejected marks the request as one whose log line is rate-limited.
func markRejected(r *http.Request) {
	if info, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		info.rejected = true
	}
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap returns the writer underneath, for http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// underlying is net/http's own writer beneath the middleware's wrappers.
// http.MaxBytesReader tells net/http that a body went past the limit, so
// that it closes the connection instead of reading up to 256 KB more of
// it, only when handed that writer.
func underlying(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// withRequestLog gives each request an id (the client's X-Request-Id when it
// is sane), recovers a panic into a 500, and logs one line per request at a
// level that follows its status. Headers and bodies are never logged: they
// hold signatures and leads' e-mail addresses.
func (s *Server) withRequestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// A request id is taken from a trusted proxy only: anyone else
		// could use it to forge log correlation.
		peer := peerIP(r)
		trusted := inAny(peer, s.cfg.TrustedProxies)
		if !trusted && len(r.Header["X-Forwarded-For"]) > 0 {
			s.untrustedForward(peer)
		}
		info := &requestInfo{id: r.Header.Get(RequestIDHeader), client: clientIPFrom(r, peer, s.cfg.TrustedProxies), trusted: trusted}
		if info.id == "" || !trusted || !validRequestID.MatchString(info.id) {
			info.id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, info.id)
		info.fields = append(info.buf[:0], zap.String("request_id", info.id), zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr),
			zap.Stringer("client", info.client), zap.Int64("bytes_in", r.ContentLength))
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, info))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				info.fields = append(info.fields, zap.Any("panic", p), zap.StackSkip("stack", 1))
				if rec.status == 0 {
					writeError(rec, r, http.StatusInternalServerError, "internal error")
				}
			}
			s.logRequest(r, rec.status, time.Since(start), info)
		}()
		next.ServeHTTP(rec, r)
	})
}

// untrustedForward counts a request that names its client in
// X-Forwarded-For from a peer not trusted to, and logs the first from each
// of the first few such peers: a proxy in front of the bridge that is
// missing from --trusted-proxies makes every client one, so per-client
// bounds apply to all of them together. Several peers, so that an
// attacker's header cannot hide the proxy's.
func (s *Server) untrustedForward(peer netip.Addr) {
	s.metrics.forwarded.Inc()
	s.forwardedMu.Lock()
	_, seen := s.forwarded[peer]
	log := !seen && len(s.forwarded) < maxForwardedPeers
	if log {
		s.forwarded[peer] = struct{}{}
	}
	s.forwardedMu.Unlock()
	if log {
		s.logger.Warn("X-Forwarded-For from a peer not in --trusted-proxies is ignored; if this peer is your load balancer, trust it (counted in storylane_bridge_untrusted_forwarded_requests_total)",
			zap.Stringer("peer", peer))
	}
}

// maxForwardedPeers bounds the peers whose untrusted X-Forwarded-For is
// logged.
const maxForwardedPeers = 16

func (s *Server) logRequest(r *http.Request, status int, took time.Duration, info *requestInfo) {
	s.metrics.request(routeLabel(r.URL.Path), status)
	// Every client error is someone else's mistake or probe: logged at a
	// bounded rate, as rejections are.
	if (info.rejected || status >= 400 && status < 500) && !s.rejectLog.Allow() {
		s.suppress.Add(1)
		return
	}
	suppressed := s.suppress.Swap(0)
	level := zapcore.InfoLevel
	switch {
	case status >= 500:
		level = zapcore.ErrorLevel
	case status >= 400:
		level = zapcore.WarnLevel
	}
	ce := s.logger.Check(level, "request")
	if ce == nil {
		return
	}
	fields := append(info.fields, zap.Int("status", status), zap.Duration("took", took))
	if suppressed > 0 {
		fields = append(fields, zap.Int64("rejections_not_logged", suppressed))
	}
	ce.Write(fields...)
}

// routeLabel keeps the route label of the request metric to the routes
// there are, whatever paths clients try.
func routeLabel(path string) string {
	switch path {
	case WebhookPath, "/healthz", "/readyz":
		return path
	}
	return "other"
}

// newRequestID returns 64 random bits in hex: math/rand/v2's generator is
// seeded from the system and cheap per call, unlike crypto/rand, and, unlike
// a counter, an id echoed to a client tells it nothing about the traffic.
func newRequestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}
