package consume

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Metrics are the consumer runtime's Prometheus metrics, in the registry
// given to NewMetrics.
type Metrics struct {
	events      *prometheus.CounterVec
	handlerTime *prometheus.HistogramVec
}

// Outcomes counted by storylane_consumer_events_total.
const (
	outcomeAcked        = "acked"
	outcomeRetried      = "retried"
	outcomeDeadLettered = "dead_lettered"
	// outcomeRefused counts messages terminated unhandled: outside the
	// durable's filter, or dead letters that match no original.
	outcomeRefused = "refused"
)

// NewMetrics creates the runtime's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storylane_consumer_events_total",
			Help: "Events settled by a consumer, by outcome: acked, retried (nak with back-off), dead_lettered, refused (terminated unhandled: outside the consumer's filter, or a dead letter matching no event in the stream).",
		}, []string{"consumer", "outcome"}),
		handlerTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "storylane_consumer_handler_duration_seconds",
			Help:    "Time a consumer's handler took per event.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"consumer"}),
	}
	reg.MustRegister(m.events, m.handlerTime)
	return m
}

// Option configures a Consumer.
type Option func(*options)

// options are what Options set: data, so that RunProcess can see a replay
// coming before New runs it.
type options struct {
	metrics  *Metrics
	tracer   trace.Tracer
	asStored bool      // hand over messages undecoded (AsStored)
	replay   *replayer // WithReplay
}

func newOptions(opts []Option) options {
	o := options{tracer: noop.NewTracerProvider().Tracer("")}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithMetrics counts the consumer's work in m.
func WithMetrics(m *Metrics) Option {
	return func(o *options) { o.metrics = m }
}

// WithTracer continues, for each event, the trace its message carries.
func WithTracer(t trace.Tracer) Option {
	return func(o *options) { o.tracer = t }
}

// AsStored hands the handler each message as stored, in Event.Header and
// Event.Data, and leaves Event.CloudEvent and Event.Session empty: for a
// handler that copies events rather than reads them (the archive), the
// decoding is most of the cost of an event. The handler then decides what
// an undecodable message is, by returning an error wrapping ErrPermanent.
func AsStored() Option {
	return func(o *options) { o.asStored = true }
}

func (c *Consumer) count(outcome string) {
	if c.metrics != nil {
		c.metrics.events.WithLabelValues(c.cfg.Durable, outcome).Inc()
	}
}

func (c *Consumer) observe(took time.Duration) {
	if c.metrics != nil {
		c.metrics.handlerTime.WithLabelValues(c.cfg.Durable).Observe(took.Seconds())
	}
}

// lagCollector reports a consumer's backlog, read from the server at each
// scrape.
type lagCollector struct {
	c                *Consumer
	pending, waiting *prometheus.Desc
}

// Collector returns a collector of the consumer's lag: events not yet
// delivered (storylane_consumer_pending_events) and delivered but not yet
// acknowledged (storylane_consumer_ack_pending_events).
func (c *Consumer) Collector() prometheus.Collector {
	labels := prometheus.Labels{"consumer": c.cfg.Durable}
	return &lagCollector{c: c,
		pending: prometheus.NewDesc("storylane_consumer_pending_events", "Events in the stream not yet delivered to the consumer: its lag.", nil, labels),
		waiting: prometheus.NewDesc("storylane_consumer_ack_pending_events", "Events delivered to the consumer and not yet acknowledged (in flight or waiting out a back-off).", nil, labels),
	}
}

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.pending
	ch <- l.waiting
}

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := l.c.consumer().Info(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(l.pending, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(l.pending, prometheus.GaugeValue, float64(info.NumPending))
	ch <- prometheus.MustNewConstMetric(l.waiting, prometheus.GaugeValue, float64(info.NumAckPending))
}
