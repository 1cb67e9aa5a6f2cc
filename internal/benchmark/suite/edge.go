package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/loadgen"
)

// edgeRuns compare the bridge on its embedded broker with the bridge as an
// edge whose hub is linked and sourcing it (what edge mode adds), each
// with --sync-interval always (the default in both) and 2m (nats-server's
// own default, what an external cluster runs with: what always costs), at
// 64 clients (throughput) and at one (each webhook's latency). Each run has
// a fresh data directory, and an edge run a fresh hub.
var edgeRuns = []struct {
	key, sync, conc, label string
	edge                   bool
}{
	{"edge-off-64", "always", "64", "bridge, embedded, sync always", false},
	{"edge-on-64", "always", "64", "bridge, edge + hub, sync always", true},
	{"edge-on-64-2m", "2m", "64", "bridge, edge + hub, sync 2m", true},
	{"edge-off-64-2m", "2m", "64", "bridge, embedded, sync 2m", false},
	{"edge-off-1", "always", "1", "bridge, embedded, sync always", false},
	{"edge-on-1", "always", "1", "bridge, edge + hub, sync always", true},
	{"edge-on-1-2m", "2m", "1", "bridge, edge + hub, sync 2m", true},
	{"edge-off-1-2m", "2m", "1", "bridge, embedded, sync 2m", false},
}

const (
	edgeName = "bench"
	// edgeBacklog is how many webhooks the edge stores while its hub is
	// away, the prototype's backlog.
	edgeBacklog = 50_000
	// warmUpRequests go through an edge and its hub before anything is
	// measured: the hub's source is then flowing, not starting.
	warmUpRequests = 200
)

// edge measures edge mode: the runs of edgeRuns, then the backlog's
// catch-up once the hub comes back.
func (s *suite) edge(ctx context.Context) error {
	before := loadAverage()
	for _, r := range edgeRuns {
		if err := s.edgeRun(ctx, r.key, r.label, r.sync, r.conc, r.edge); err != nil {
			return err
		}
	}
	for _, sync := range []string{"always", "2m"} {
		if err := s.edgeCatchUp(ctx, sync); err != nil {
			return err
		}
	}
	s.extra["edge-load"] = fmt.Sprintf("edge: load average (1, 5, 15 min) %s at the step's start, %s at its end", before, loadAverage())
	return nil
}

// edgeRun measures one of edgeRuns; for an edge, also how long after the
// load the hub held every webhook it was sent.
func (s *suite) edgeRun(ctx context.Context, key, label, sync, conc string, edge bool) error {
	args := []string{"--sync-interval", sync}
	var hub *hubServer
	if edge {
		var err error
		if hub, err = s.newHub(); err != nil {
			return err
		}
		defer hub.close()
		args = append(args, "--leaf-remote", hub.leafURL(), "--edge-name", edgeName)
	}
	bridge, addr, err := s.bridge(args...)
	if err != nil {
		return err
	}
	defer bridge.stop()
	warm, err := s.warmUp(ctx, addr, hub)
	if err != nil {
		return err
	}
	if err := s.measure(ctx, key, bridge, addr, label, "--concurrency", conc); err != nil {
		return err
	}
	if hub == nil {
		return nil
	}
	sent := warm + uint64(s.results[key].Requests)
	c, err := watchCatchUp(hub.messages, warm, sent, time.Now(), 10*time.Millisecond, time.Minute)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	s.extra[key+"-lag"] = c.done.Round(time.Millisecond).String()
	return nil
}

// warmUp sends warmUpRequests webhooks to the bridge at addr and, with a
// hub, waits until the hub holds them; it returns how many were sent.
func (s *suite) warmUp(ctx context.Context, addr string, hub *hubServer) (uint64, error) {
	if hub != nil {
		if err := hub.setUp(ctx, edgeName); err != nil {
			return 0, err
		}
	}
	rs, err := s.load(ctx, "--url", webhookURL(addr), "--label", "warm-up", "--concurrency", "8",
		"--requests", strconv.Itoa(warmUpRequests), "--duration", "1m")
	if err != nil {
		return 0, err
	}
	n := uint64(rs[0].Requests)
	if hub == nil {
		return n, nil
	}
	if _, err := watchCatchUp(hub.messages, 0, n, time.Now(), 10*time.Millisecond, time.Minute); err != nil {
		return 0, fmt.Errorf("warm-up: %w", err)
	}
	return n, nil
}

func webhookURL(addr string) string { return "http://" + addr + "/webhooks/storylane" }

// edgeCatchUp stores edgeBacklog webhooks at an edge with --sync-interval
// sync while its hub is stopped, starts the hub again on its store, and
// times the hub from being ready to holding them all.
func (s *suite) edgeCatchUp(ctx context.Context, sync string) error {
	hub, err := s.newHub()
	if err != nil {
		return err
	}
	defer hub.close()
	bridge, addr, err := s.bridge("--leaf-remote", hub.leafURL(), "--edge-name", edgeName, "--sync-interval", sync)
	if err != nil {
		return err
	}
	defer bridge.stop()
	admin, err := bridge.wait(`"msg":"admin listening"`)
	if err != nil {
		return err
	}
	backlog := "http://" + field(admin, "addr") + "/metrics"
	warm, err := s.warmUp(ctx, addr, hub)
	if err != nil {
		return err
	}
	hub.stop()
	rs, err := s.load(ctx, "--url", webhookURL(addr), "--label", "bridge, edge, hub stopped, sync "+sync, "--concurrency", "64",
		"--requests", strconv.Itoa(edgeBacklog), "--duration", "5m", "--pid", strconv.Itoa(bridge.cmd.Process.Pid))
	if err != nil {
		return err
	}
	s.results["edge-store-"+sync] = rs[0]
	n := uint64(rs[0].Requests)
	held := backlogMessages(backlog)
	linked := make(chan time.Time, 1)
	go func() { linked <- whenMetric(backlog, "storylane_bridge_edge_leaf_connected", 1, time.Minute) }()
	if err := hub.start(); err != nil {
		return err
	}
	c, err := watchCatchUp(hub.messages, warm, warm+n, hub.backAt, 10*time.Millisecond, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("catch-up: %w", err)
	}
	link := "never"
	if at := <-linked; !at.IsZero() {
		link = fmt.Sprintf("%.2f s", at.Sub(hub.backAt).Seconds())
	}
	left := backlogMessages(backlog)
	for deadline := time.Now().Add(30 * time.Second); left != 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		left = backlogMessages(backlog)
	}
	s.extra["edge-catch-up-"+sync] = fmt.Sprintf("edge backlog, sync %s: %d webhooks stored with the hub stopped (the edge's backlog metric: %.0f); the hub ready %.2f s after its start; "+
		"the edge's leaf link up %s after it was ready, forwarding started %.2f s after it was ready, and it held all %d %.2f s after: %.0f events/s from the hub being back, %.0f/s once forwarding had started; the edge's backlog then %.0f",
		sync, n, held, hub.backAt.Sub(hub.started).Seconds(), link, c.started.Seconds(), n, c.done.Seconds(), c.rate(n), c.drainRate(n), left)
	return nil
}

// backlogMessages reads an edge's backlog from its metrics; -1 when absent.
func backlogMessages(metrics string) float64 {
	if v, ok := metricValue(metrics, "storylane_bridge_edge_backlog_messages"); ok {
		return v
	}
	return -1
}

// reportEdge prints what edge mode adds to the embedded broker, and what
// --sync-interval always costs at the edge, where the step ran.
func (s *suite) reportEdge(w io.Writer) {
	r := func(k string) loadgen.Result { return s.results[k] }
	if _, ok := s.results["edge-on-64"]; ok {
		fmt.Fprintf(w, "edge, 64 clients, sync always: embedded %.0f/s, edge + hub %.0f/s (edge / embedded %s); sync 2m: embedded %.0f/s, edge + hub %.0f/s (%s); at the edge always / 2m %s\n",
			r("edge-off-64").Throughput, r("edge-on-64").Throughput, loadgen.Ratio(r("edge-on-64"), r("edge-off-64")),
			r("edge-off-64-2m").Throughput, r("edge-on-64-2m").Throughput, loadgen.Ratio(r("edge-on-64-2m"), r("edge-off-64-2m")),
			loadgen.Ratio(r("edge-on-64"), r("edge-on-64-2m")))
		p := func(k string) string {
			return fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", r(k).LatencyMs["p50"], r(k).LatencyMs["p99"])
		}
		fmt.Fprintf(w, "edge, 1 client: sync always: embedded %s, edge + hub %s (p50 %+.2f ms); sync 2m: embedded %s, edge + hub %s (p50 %+.2f ms); at the edge always adds p50 %+.2f ms\n",
			p("edge-off-1"), p("edge-on-1"), r("edge-on-1").LatencyMs["p50"]-r("edge-off-1").LatencyMs["p50"],
			p("edge-off-1-2m"), p("edge-on-1-2m"), r("edge-on-1-2m").LatencyMs["p50"]-r("edge-off-1-2m").LatencyMs["p50"],
			r("edge-on-1").LatencyMs["p50"]-r("edge-on-1-2m").LatencyMs["p50"])
		fmt.Fprintf(w, "edge: the hub held every webhook %s, %s, %s and %s after the loads of 64 clients (always, 2m) and 1 client (always, 2m) ended\n",
			s.extra["edge-on-64-lag"], s.extra["edge-on-64-2m-lag"], s.extra["edge-on-1-lag"], s.extra["edge-on-1-2m-lag"])
	}
	for _, k := range []string{"edge-catch-up-always", "edge-catch-up-2m", "edge-load"} {
		if line, ok := s.extra[k]; ok {
			fmt.Fprintln(w, line)
		}
	}
}

// whenMetric polls series at metrics until it reads want, within limit,
// and returns when it did; the zero time if it never did.
func whenMetric(metrics, series string, want float64, limit time.Duration) time.Time {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if v, ok := metricValue(metrics, series); ok && v == want {
			return time.Now()
		}
	}
	return time.Time{}
}
