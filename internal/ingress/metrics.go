package ingress

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bridge's Prometheus metrics. They live in the registry
// given to NewMetrics, never in a global one.
type Metrics struct {
	webhooks     *prometheus.CounterVec
	httpRequests *prometheus.CounterVec
	signatureBad *prometheus.CounterVec
	keyMatches   *prometheus.CounterVec
	payloadBytes prometheus.Histogram
	publishTime  prometheus.Histogram
	inFlight     prometheus.Gauge
	refusals     *prometheus.CounterVec
	forwarded    prometheus.Counter

	// Counters looked up once rather than by label values per request.
	outcomes map[string]prometheus.Counter
	keys     sync.Map // secret position → prometheus.Counter
	requests sync.Map // requestKey → prometheus.Counter
}

type requestKey struct {
	route string
	code  int
}

// Outcomes of a webhook, the values of storylane_bridge_webhooks_total's
// outcome label.
const (
	outcomeStored       = "stored"
	outcomeDuplicate    = "duplicate"
	outcomeInvalid      = "invalid"
	outcomeUnauthorized = "unauthorized"
	outcomeTooLarge     = "too_large"        // over --max-body, before the signature
	outcomeBrokerLarge  = "broker_too_large" // signed, but over the broker's max_payload
	outcomeUnavailable  = "unavailable"
	outcomeShed         = "shed"
	outcomeRateLimited  = "rate_limited"
	outcomeForbidden    = "forbidden"
	outcomeBadRequest   = "bad_request"
)

// NewMetrics creates the bridge's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storylane_bridge_webhooks_total",
			Help: "Webhooks by outcome: stored, duplicate, invalid (kept on storylane.invalid), unavailable, broker_too_large (after the signature check); unauthorized, too_large, shed, rate_limited, forbidden, bad_request (before it).",
		}, []string{"outcome"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storylane_bridge_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		signatureBad: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storylane_bridge_signature_failures_total",
			Help: "Webhooks refused for their x-storylane-signature, by reason: missing, malformed, mismatch.",
		}, []string{"reason"}),
		keyMatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storylane_bridge_signature_key_matches_total",
			Help: "Verified webhooks by the position of the secret that matched (0 is the first configured); never the secret.",
		}, []string{"key"}),
		payloadBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "storylane_bridge_payload_bytes",
			Help:    "Size of webhook bodies read.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 8), // 256 B … 4 MiB
		}),
		publishTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "storylane_bridge_publish_duration_seconds",
			Help:    "Time from publishing an event to JetStream's acknowledgement (or failure).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "storylane_bridge_in_flight_requests",
			Help: "Webhooks being handled now.",
		}),
	}
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storylane_bridge_refusals_total",
		Help: "Webhooks refused by a defence, by the flag of the bound that refused them: max-concurrent, max-concurrent-per-client, max-queued, max-buffered-bytes (503 after waiting), rate-limit (429), allow-cidrs (403).",
	}, []string{"bound"})
	m.forwarded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "storylane_bridge_untrusted_forwarded_requests_total",
		Help: "Requests with X-Forwarded-For from a peer outside --trusted-proxies, whose header is ignored: a proxy in front that is not trusted is a likely misconfiguration.",
	})
	reg.MustRegister(m.webhooks, m.httpRequests, m.signatureBad, m.keyMatches, m.payloadBytes, m.publishTime, m.inFlight, m.refusals, m.forwarded)
	// Every outcome and reason from the start, at zero, so that rates and
	// alerts over them work before the first one happens.
	m.outcomes = map[string]prometheus.Counter{}
	for _, o := range []string{outcomeStored, outcomeDuplicate, outcomeInvalid, outcomeUnauthorized, outcomeTooLarge, outcomeBrokerLarge,
		outcomeUnavailable, outcomeShed, outcomeRateLimited, outcomeForbidden, outcomeBadRequest} {
		m.outcomes[o] = m.webhooks.WithLabelValues(o)
	}
	for _, r := range []string{"missing", "malformed", "mismatch"} {
		m.signatureBad.WithLabelValues(r)
	}
	for _, b := range []string{boundConcurrent, boundPerClient, boundQueued, boundBufferedBytes, boundRateLimit, boundAllowCIDRs} {
		m.refusals.WithLabelValues(b)
	}
	return m
}

func (m *Metrics) webhook(outcome string) { m.outcomes[outcome].Inc() }

func (m *Metrics) refused(bound string) { m.refusals.WithLabelValues(bound).Inc() }

// key counts a match of the secret at position i; a position appears in
// the metrics once it has matched.
func (m *Metrics) key(i int) {
	c, ok := m.keys.Load(i)
	if !ok {
		c, _ = m.keys.LoadOrStore(i, m.keyMatches.WithLabelValues(strconv.Itoa(i)))
	}
	c.(prometheus.Counter).Inc()
}

func (m *Metrics) request(route string, code int) {
	k := requestKey{route, code}
	c, ok := m.requests.Load(k)
	if !ok {
		// Bounded: four routes by the status codes the bridge writes.
		c, _ = m.requests.LoadOrStore(k, m.httpRequests.WithLabelValues(route, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
}
