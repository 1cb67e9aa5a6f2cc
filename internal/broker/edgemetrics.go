package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
)

// LeafLink reports an edge server's leaf link to its hub. The bridge
// creates it before the server starts (EdgeConfig.Link) and StartEmbedded
// binds it, so the metrics need no handle on the server itself.
type LeafLink struct {
	server atomic.Pointer[Embedded]

	mu     sync.Mutex
	lastID uint64 // the leaf connection's id when last seen up
	seen   uint64 // leaf connections seen established
}

func (l *LeafLink) bind(ns *Embedded) { l.server.Store(ns) }

// Connected reports whether the leaf link to the hub is up; false before
// the server started.
func (l *LeafLink) Connected() bool {
	ns := l.server.Load()
	return ns != nil && ns.NumLeafNodes() > 0
}

// Connections counts the leaf connections to the hub seen established, by
// their connection id, at each call: nats-server gives each connection a
// new id, and has no count or event of its own for a soliciting leaf. A
// link replaced more than once between two calls counts once.
func (l *LeafLink) Connections() uint64 {
	ns := l.server.Load()
	if ns == nil {
		return 0
	}
	lz, err := ns.Leafz(&server.LeafzOptions{})
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && len(lz.Leafs) > 0 && lz.Leafs[0].ID != l.lastID {
		l.lastID = lz.Leafs[0].ID
		l.seen++
	}
	return l.seen
}

// edgeScrapeTimeout bounds the stream look-up of one scrape: a scrape
// must not hang on a wedged server, and gives up its backlog numbers then.
const edgeScrapeTimeout = 2 * time.Second

// EdgeMetrics are edge mode's metrics, read at scrape time from the edge's
// WorkQueue stream, whose messages are those the hub has not acknowledged
// yet, and from the leaf link.
type EdgeMetrics struct {
	keeper *StreamKeeper
	link   *LeafLink

	messages, bytes, budget, oldest, connected, connections *prometheus.Desc
}

// NewEdgeMetrics registers the metrics of the edge whose stream k keeps
// and whose leaf link is link with reg.
func NewEdgeMetrics(reg prometheus.Registerer, k *StreamKeeper, link *LeafLink) *EdgeMetrics {
	m := &EdgeMetrics{keeper: k, link: link,
		messages: prometheus.NewDesc("storylane_bridge_edge_backlog_messages",
			"Webhooks stored at this edge and not yet acknowledged by the hub (the edge stream's messages; the hub acknowledges by flow control, so the last second's may already be on it).", nil, nil),
		bytes: prometheus.NewDesc("storylane_bridge_edge_backlog_bytes",
			"Bytes of webhooks stored at this edge and not yet acknowledged by the hub; webhooks get 503 once it reaches the budget.", nil, nil),
		budget: prometheus.NewDesc("storylane_bridge_edge_backlog_budget_bytes",
			"The backlog this edge may hold (--edge-max-bytes); readiness fails from 90% of it.", nil, nil),
		oldest: prometheus.NewDesc("storylane_bridge_edge_oldest_unforwarded_seconds",
			"Age of the oldest webhook not yet acknowledged by the hub, 0 with no backlog.", nil, nil),
		connected: prometheus.NewDesc("storylane_bridge_edge_leaf_connected",
			"1 while the leaf link to the hub is up, else 0.", nil, nil),
		connections: prometheus.NewDesc("storylane_bridge_edge_leaf_connections_total",
			"Leaf links to the hub seen established, counted at each scrape by connection id: more than 1 means reconnects; "+
				"a link replaced more than once between two scrapes counts once.", nil, nil),
	}
	reg.MustRegister(m)
	return m
}

// Describe implements prometheus.Collector.
func (m *EdgeMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.messages, m.bytes, m.budget, m.oldest, m.connected, m.connections} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Without the stream's state
// (the stream gone, the server wedged) the backlog metrics are left out
// rather than reported as an empty backlog.
func (m *EdgeMetrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(m.budget, float64(m.keeper.cfg.MaxBytes))
	gauge(m.connected, map[bool]float64{true: 1}[m.link.Connected()])
	ch <- prometheus.MustNewConstMetric(m.connections, prometheus.CounterValue, float64(m.link.Connections()))
	ctx, cancel := context.WithTimeout(context.Background(), edgeScrapeTimeout)
	defer cancel()
	s, err := m.keeper.js.Stream(ctx, m.keeper.cfg.Name)
	if err != nil {
		return
	}
	// The stream's first message is the oldest unforwarded one: WorkQueue
	// retention deletes each as the hub acknowledges it, in order.
	state := s.CachedInfo().State
	gauge(m.messages, float64(state.Msgs))
	gauge(m.bytes, float64(state.Bytes))
	var age float64
	if state.Msgs > 0 && !state.FirstTime.IsZero() {
		age = max(time.Since(state.FirstTime).Seconds(), 0)
	}
	gauge(m.oldest, age)
}
