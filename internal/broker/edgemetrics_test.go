package broker_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// gather is the value of each gauge and counter reg holds, by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return got
}

// TestEdgeMetrics: the backlog metrics follow the edge's stream while the
// hub is away (messages, bytes, the oldest one's age) and drain to 0 once
// it is back; the leaf link reads 0 while the hub is down and 1 again
// after it restarted, which counts as a second connection.
func TestEdgeMetrics(t *testing.T) {
	t.Parallel()
	h := natstest.StartHub(t)
	ne := natstest.StartEdge(t, "m", h)
	js, err := jetstream.New(ne.NC)
	if err != nil {
		t.Fatal(err)
	}
	e := &edge{name: ne.Name, nc: ne.NC, keeper: ne.Keeper, js: js}
	reg := prometheus.NewRegistry()
	broker.NewEdgeMetrics(reg, ne.Keeper, ne.Link)
	h.WaitEdgeReachable(t, streamConfig(), "m")
	h.CreateHubStream(t, streamConfig(), "m")

	var got map[string]float64
	settled := func(want map[string]float64) func() bool {
		return func() bool {
			got = gather(t, reg)
			for name, v := range want {
				if got[name] != v {
					return false
				}
			}
			return true
		}
	}
	linked := map[string]float64{
		"storylane_bridge_edge_leaf_connected":             1,
		"storylane_bridge_edge_backlog_messages":           0,
		"storylane_bridge_edge_backlog_bytes":              0,
		"storylane_bridge_edge_oldest_unforwarded_seconds": 0,
		"storylane_bridge_edge_backlog_budget_bytes":       64 << 20,
		"storylane_bridge_edge_leaf_connections_total":     1,
	}
	if !poll.Within(10*time.Second, settled(linked)) {
		t.Fatalf("edge metrics with the hub linked = %v, want %v", got, linked)
	}

	h.Stop()
	if !poll.Within(10*time.Second, settled(map[string]float64{"storylane_bridge_edge_leaf_connected": 0})) {
		t.Fatalf("edge metrics 10s after the hub stopped = %v, want leaf_connected 0", got)
	}
	before := time.Now()
	e.publish(t, ids("metrics", 50))
	got = gather(t, reg)
	age := got["storylane_bridge_edge_oldest_unforwarded_seconds"]
	if got["storylane_bridge_edge_backlog_messages"] != 50 || got["storylane_bridge_edge_backlog_bytes"] < 50*float64(len(`{"id":"metrics-0"}`)) {
		t.Errorf("edge metrics with 50 events stored while the hub is down = %v, want 50 messages of their bytes", got)
	}
	if age <= 0 || age > time.Since(before).Seconds() {
		t.Errorf("oldest_unforwarded_seconds = %v, want over 0 and at most the %v since the first publish", age, time.Since(before))
	}

	h.Restart()
	delete(linked, "storylane_bridge_edge_leaf_connections_total") // 2, or more if the link flapped
	if !poll.Within(30*time.Second, settled(linked)) {
		t.Fatalf("edge metrics 30s after the hub restarted = %v, want %v", got, linked)
	}
	if n := got["storylane_bridge_edge_leaf_connections_total"]; n < 2 {
		t.Errorf("leaf_connections_total after the hub restarted = %v, want at least 2: the link came back", n)
	}
}
