package follow

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are session-stats' own series.
type Metrics struct {
	applied  prometheus.Counter
	lag      prometheus.Gauge
	rebuild  prometheus.Gauge
	lastRead prometheus.Gauge
	snapshot *snapshotAge
}

type snapshotAge struct{ last atomicTime }

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		applied: prometheus.NewCounter(prometheus.CounterOpts{Name: "storylane_stats_events_applied_total",
			Help: "Distinct events counted into the figures (each event id once)."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "storylane_stats_lag_events",
			Help: "Events in the stream not applied yet."}),
		rebuild: prometheus.NewGauge(prometheus.GaugeOpts{Name: "storylane_stats_rebuild_duration_seconds",
			Help: "How long the start took to catch up with the stream (from the snapshot, or from the first event)."}),
		// The lag keeps its last value while the stream cannot be read;
		// this stops moving, which an alert can see.
		lastRead: prometheus.NewGauge(prometheus.GaugeOpts{Name: "storylane_stats_last_read_timestamp_seconds",
			Help: "When the stream was last read (an event, or a wait that found none), in Unix seconds; 0 before the first read."}),
		snapshot: &snapshotAge{},
	}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "storylane_stats_snapshot_age_seconds",
		Help: "Seconds since the last snapshot was written; -1 before the first."}, m.snapshot.age)
	reg.MustRegister(m.applied, m.lag, m.rebuild, m.lastRead, age)
	return m
}

func (s *snapshotAge) age() float64 {
	t := s.last.load()
	if t.IsZero() {
		return -1
	}
	return time.Since(t).Seconds()
}
