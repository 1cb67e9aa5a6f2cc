// Package ingress is the bridge's HTTP side: it receives Storylane webhooks,
// verifies, validates and classifies them, and answers 2xx only once the
// event is stored in JetStream.
package ingress

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Verifier checks a body's x-storylane-signature and returns the position
// of the secret that matched.
type Verifier interface {
	Verify(body []byte, signature string) (int, error)
}

// Reader reads a verified body (storylane.Reader): its summary, or why it
// is not a valid session.
type Reader interface {
	Read(body []byte) (storylane.Summary, error)
}

// Publisher stores a message and returns JetStream's acknowledgement.
type Publisher interface {
	Publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error)
}

// ReadinessChecker reports whether the broker can take events now.
type ReadinessChecker interface {
	Ready(ctx context.Context) error
}

// Config holds the settings of the webhook endpoint.
type Config struct {
	MaxBody        int64             // largest body accepted, in bytes
	PublishTimeout time.Duration     // how long to wait for JetStream's ack
	Origin         cloudevent.Origin // source and dataschema of events
	Subjects       broker.Subjects
	// Now returns the receipt time; nil means time.Now.
	Now func() time.Time

	// MaxConcurrent bounds the signed webhooks being stored at once;
	// beyond it a webhook waits its turn, then is shed with 503 instead of
	// the bridge growing. 0 for no bound.
	MaxConcurrent int
	// MaxConcurrentPerClient bounds those of one client address (or IPv6
	// /64). 0 for no bound.
	MaxConcurrentPerClient int
	// A webhook over those bounds waits up to QueueTimeout for its turn,
	// with at most MaxQueued waiting, before a 503; 0 for the defaults.
	QueueTimeout time.Duration
	MaxQueued    int
	// MaxBufferedBytes bounds the body bytes held at once beyond a small
	// head per webhook; 0 for the default. At least MaxBody+1.
	MaxBufferedBytes int64
	// RateLimit is the webhooks per second allowed to one client address,
	// with bursts of RateBurst; 0 for no limit.
	RateLimit float64
	RateBurst int
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client; without them the header is ignored.
	TrustedProxies []netip.Prefix
	// AllowCIDRs, when set, are the only client addresses served.
	AllowCIDRs []netip.Prefix
}

// Deps are what the handler works with.
type Deps struct {
	Logger    *zap.Logger
	Verifier  Verifier
	Reader    Reader
	Publisher Publisher
	Ready     ReadinessChecker
	// Health, when set, can make /healthz fail; nil means healthy while
	// the process runs.
	Health HealthChecker
	// Metrics, when nil, are created unregistered.
	Metrics *Metrics
	// Tracer, when nil, records nothing.
	Tracer trace.Tracer
}

// Defaults of Config fields left at zero.
const (
	DefaultMaxBody          = 256 << 10
	DefaultPublishTimeout   = 5 * time.Second
	DefaultQueueTimeout     = 2 * time.Second
	DefaultMaxQueued        = 1024
	DefaultMaxBufferedBytes = 16 << 20
)

// Server is the bridge's HTTP handler.
type Server struct {
	cfg       Config
	logger    *zap.Logger
	verifier  Verifier
	reader    Reader
	publisher Publisher
	ready     ReadinessChecker
	health    HealthChecker
	metrics   *Metrics
	tracer    trace.Tracer
	rejectLog *rate.Limiter
	suppress  atomic.Int64 // rejection log lines not written since the last one
	handler   http.Handler
	admit     *admission
	bodies    *bodies
	// Peers whose untrusted X-Forwarded-For was logged.
	forwardedMu sync.Mutex
	forwarded   map[netip.Addr]struct{}
	events      *cloudevent.Encoder
}

// Rejections (bad signatures, rate limits, shed load) are logged at most
// this often, with bursts, so a flood cannot flood the logs.
const (
	rejectLogRate  = 5
	rejectLogBurst = 20
)

// NewServer returns the bridge's HTTP handler: every route, behind
// middleware that gives each request an id, one log line and a recovered
// panic. It panics on an Origin the CloudEvents SDK refuses
// (cloudevent.NewEncoder says why): callers check a configured source
// first, and serving with one would answer every valid webhook 422.
func NewServer(cfg Config, d Deps) http.Handler {
	events, err := cloudevent.NewEncoder(cfg.Origin)
	if err != nil {
		panic(fmt.Sprintf("ingress.NewServer: %v", err))
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = DefaultQueueTimeout
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	// Room for the largest body, or it would wait for ever.
	cfg.MaxBufferedBytes = max(cfg.MaxBufferedBytes, cfg.MaxBody+1)
	if d.Metrics == nil {
		d.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if d.Tracer == nil {
		d.Tracer = noop.NewTracerProvider().Tracer("")
	}
	s := &Server{cfg: cfg, logger: d.Logger, verifier: d.Verifier, reader: d.Reader, publisher: d.Publisher,
		ready: d.Ready, metrics: d.Metrics, tracer: d.Tracer, rejectLog: rate.NewLimiter(rejectLogRate, rejectLogBurst),
		events: events, bodies: newBodies(cfg.MaxBufferedBytes, cfg.MaxBody, cfg.QueueTimeout),
		admit: newAdmission(cfg.MaxConcurrent, cfg.MaxConcurrentPerClient, cfg.MaxQueued, cfg.QueueTimeout), forwarded: map[netip.Addr]struct{}{}}
	s.health = d.Health
	s.handler = s.withRequestLog(s.routes())
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}
