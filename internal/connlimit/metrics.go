package connlimit

import "github.com/prometheus/client_golang/prometheus"

// Metrics count what a Limiter did. They live in the registry given to
// NewMetrics, never in a global one.
type Metrics struct {
	open    prometheus.Gauge
	evicted *prometheus.CounterVec
	refused *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg, unless nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "storylane_bridge_open_connections",
			Help: "Client connections open on the webhook listener.",
		}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storylane_bridge_connections_evicted_total",
			Help: "Connections closed to make room for a new one, by the bound reached (per_client, global) and the state of the one closed (idle, new: its request headers not finished).",
		}, []string{"bound", "state"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storylane_bridge_connections_refused_total",
			Help: "New connections refused, by reason: client_busy and all_busy (every connection at the bound serving a request; answered 503 on plain HTTP), not_allowed (outside --allow-cidrs).",
		}, []string{"reason"}),
	}
	for _, b := range []string{boundPerClient, boundGlobal} {
		for _, s := range []state{stateIdle, stateNew} {
			m.evicted.WithLabelValues(b, s.String())
		}
	}
	for _, r := range []string{reasonClientBusy, reasonAllBusy, reasonNotAllowed} {
		m.refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.open, m.evicted, m.refused)
	}
	return m
}
