package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/loadgen"
)

const runFor = "8s"

// throughput measures, on a fresh nats-server each: JetStream's own bound,
// the bare bridge, and storylane-bridge, at 32 and 64 clients.
func (s *suite) throughput(ctx context.Context) error {
	for _, conc := range []string{"32", "64"} {
		// JetStream alone.
		srv, url, err := s.natsServer()
		if err != nil {
			return err
		}
		bare, addr, err := s.bareBridge(url)
		if err != nil {
			return err
		}
		rs, err := s.load(ctx, "--url", "", "--direct", "--nats-url", url, "--concurrency", conc, "--duration", runFor)
		if err != nil {
			return err
		}
		s.results["direct-"+conc] = rs[0]
		if err := s.measure(ctx, "bare-"+conc, bare, addr, "bare bridge", "--concurrency", conc); err != nil {
			return err
		}
		bare.stop()
		srv.stop()

		for _, baseline := range s.variants() {
			if err := s.bridgeThroughput(ctx, baseline, conc); err != nil {
				return err
			}
		}
	}
	return nil
}

// variants are the bridges to measure: the current code, and the baseline
// after it when there is one.
func (s *suite) variants() []bool {
	if s.base == "" {
		return []bool{false}
	}
	return []bool{false, true}
}

// variant is the key suffix and label of the current code or the baseline.
func (s *suite) variant(baseline bool) (key, label string) {
	if baseline {
		return "-base", " (baseline " + s.baseRev + ")"
	}
	return "", ""
}

// bridgeThroughput measures storylane-bridge, the current one or the
// baseline, at conc clients on a fresh nats-server.
func (s *suite) bridgeThroughput(ctx context.Context, baseline bool, conc string) error {
	srv, url, err := s.natsServer()
	if err != nil {
		return err
	}
	defer srv.stop()
	bridge, addr, err := s.bridgeFrom(s.binaries(baseline), "--nats-url", url)
	if err != nil {
		return err
	}
	defer bridge.stop()
	key, label := s.variant(baseline)
	return s.measure(ctx, "bridge-"+conc+key, bridge, addr, "storylane-bridge"+label, "--concurrency", conc)
}

// measure runs the load generator for runFor against the webhook path of
// target p, serving at addr, measures p's CPU and memory, and keeps the
// result under key.
func (s *suite) measure(ctx context.Context, key string, p *proc, addr, label string, args ...string) error {
	rs, err := s.load(ctx, append([]string{"--url", "http://" + addr + "/webhooks/storylane", "--label", label,
		"--duration", runFor, "--pid", strconv.Itoa(p.cmd.Process.Pid)}, args...)...)
	if err != nil {
		return err
	}
	s.results[key] = rs[0]
	return nil
}

// bareBridge starts the bare bridge in front of the nats-server at url and
// returns it with its address.
func (s *suite) bareBridge(url string) (*proc, string, error) {
	p, err := s.start("barebridge", []string{"STORYLANE_WEBHOOK_SECRET=" + secret}, "-nats", url)
	if err != nil {
		return nil, "", err
	}
	line, err := p.wait("listening")
	if err != nil {
		return nil, "", err
	}
	return p, strings.TrimPrefix(line, "listening "), nil
}

// bridge starts storylane-bridge, every feature on and logging at info. The
// load comes from one address, so the per-client bound is raised to the
// global one (its default, 32, would shed half of 64 clients); the global
// bound, the connection bounds and everything else keep their defaults.
func (s *suite) bridge(args ...string) (*proc, string, error) {
	return s.bridgeFrom(s.bin, args...)
}

// bridgeFrom starts the storylane-bridge found in bin, as bridge does.
func (s *suite) bridgeFrom(bin string, args ...string) (*proc, string, error) {
	data := s.root + "/data-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	p, err := s.startFrom(bin, "storylane-bridge", []string{"STORYLANE_WEBHOOK_SECRET=" + secret, "BRIDGE_DATA_DIR=" + data},
		append([]string{"--listen", "127.0.0.1:0", "--nats-listen", "none", "--admin-listen", "127.0.0.1:0", "--max-concurrent-per-client", "256"}, args...)...)
	if err != nil {
		return nil, "", err
	}
	p.store = data
	line, err := p.wait(`"msg":"listening"`)
	if err != nil {
		return nil, "", err
	}
	return p, field(line, "addr"), nil
}

// openLoop measures storylane-bridge's latency at half its peak rate, and
// the bare bridge's at the same rate for reference. At most 64 requests are
// in flight, the bridge's default per-address connection bound: beyond it
// the bridge would close the generator's connections, as it should.
func (s *suite) openLoop(ctx context.Context) error {
	peak := max(s.results["bridge-32"].Throughput, s.results["bridge-64"].Throughput)
	rate := fmt.Sprintf("%.0f", peak/2)
	srv, url, err := s.natsServer()
	if err != nil {
		return err
	}
	defer srv.stop()
	open := []string{"--mode", "open", "--rate", rate, "--concurrency", "64"}
	for _, baseline := range s.variants() {
		bridge, addr, err := s.bridgeFrom(s.binaries(baseline), "--nats-url", url)
		if err != nil {
			return err
		}
		key, label := s.variant(baseline)
		err = s.measure(ctx, "bridge-open-half"+key, bridge, addr, "storylane-bridge"+label+", half peak", open...)
		bridge.stop()
		if err != nil {
			return err
		}
	}
	bare, addr, err := s.bareBridge(url)
	if err != nil {
		return err
	}
	defer bare.stop()
	return s.measure(ctx, "bare-open-half", bare, addr, "bare bridge, same rate", open...)
}

// embeddedRuns are the embedded broker's runs: its default, an fsync
// before every acknowledgement, and nats-server's own default of an fsync
// every two minutes, each at 64 clients (throughput) and at one (what the
// fsync adds to each webhook).
var embeddedRuns = []struct{ key, sync, conc, label string }{
	{"bridge-embedded-64", "always", "64", "bridge, embedded, sync always"},
	{"bridge-embedded-64-2m", "2m", "64", "bridge, embedded, sync 2m"},
	{"bridge-embedded-1", "always", "1", "bridge, embedded, sync always"},
	{"bridge-embedded-1-2m", "2m", "1", "bridge, embedded, sync 2m"},
}

// embedded measures storylane-bridge on its embedded broker, with
// --sync-interval always and 2m side by side, each on a fresh data dir.
func (s *suite) embedded(ctx context.Context) error {
	for _, r := range embeddedRuns {
		bridge, addr, err := s.bridge("--sync-interval", r.sync)
		if err != nil {
			return err
		}
		err = s.measure(ctx, r.key, bridge, addr, r.label, "--concurrency", r.conc)
		bridge.stop()
		if err != nil {
			return err
		}
	}
	return nil
}

// replay stores 100k events and times session-archive reading them all:
// first a new archive, through its durable as any new archive reads
// history, then --replay into an empty directory, which reads the stream
// with an ordered consumer.
func (s *suite) replay(ctx context.Context) error {
	const events = 100_000
	srv, url, err := s.streamServer()
	if err != nil {
		return err
	}
	defer srv.stop()
	if _, err := s.load(ctx, "--url", "", "--direct", "--nats-url", url, "--concurrency", "64", "--requests", strconv.Itoa(events), "--duration", "5m"); err != nil {
		return err
	}
	took, err := s.archiveThroughDurable(url, events)
	if err != nil {
		return err
	}
	s.extra["replay"] = fmt.Sprintf("session-archive, a new durable, archived %d events in %.2f s: %.0f events/s", events, took.Seconds(), events/took.Seconds())
	for _, baseline := range s.variants() {
		took, err := s.replayAll(baseline, url, events)
		if err != nil {
			return err
		}
		key, label := s.variant(baseline)
		s.extra["replay2"+key] = fmt.Sprintf("session-archive%s --replay, an empty directory: %d events in %.2f s from its start: %.0f events/s",
			label, events, took.Seconds(), events/took.Seconds())
	}
	return nil
}

// replayAll times a session-archive, the current one or the baseline,
// replaying the stream's events into an empty directory.
func (s *suite) replayAll(baseline bool, url string, events int) (time.Duration, error) {
	dir, err := os.MkdirTemp(s.root, "archive-replay")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	arch, err := s.startFrom(s.binaries(baseline), "session-archive", []string{"NATS_URL=" + url}, "--dir", dir, "--replay")
	if err != nil {
		return 0, err
	}
	defer arch.stop()
	line, err := arch.wait("replay read the stream")
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	var read struct{ Events int }
	json.Unmarshal([]byte(line), &read)
	if read.Events != events {
		return 0, fmt.Errorf("session-archive --replay read %d of %d events: %s", read.Events, events, line)
	}
	return took, nil
}

// archiveThroughDurable times a new session-archive archiving the stream's
// events through its durable, by its acknowledged-events metric.
func (s *suite) archiveThroughDurable(url string, events int) (time.Duration, error) {
	arch, err := s.start("session-archive", []string{"NATS_URL=" + url}, "--dir", s.root+"/archive", "--admin-listen", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer arch.stop()
	line, err := arch.wait("admin listening")
	if err != nil {
		return 0, err
	}
	metrics := "http://" + field(line, "addr") + "/metrics"
	start := time.Now()
	for acked(metrics) < float64(events) {
		if time.Since(start) > 5*time.Minute {
			return 0, fmt.Errorf("session-archive archived %.0f of %d events in 5 minutes", acked(metrics), events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start), nil
}

// acked reads session-archive's acknowledged events from its metrics.
func acked(url string) float64 {
	return metric(url, `storylane_consumer_events_total{consumer="session-archive",outcome="acked"}`)
}

// metric reads the value of series from the metrics at url; 0 when absent.
func metric(url, series string) float64 {
	v, _ := metricValue(url, series)
	return v
}

// metricValue reads the value of series from the metrics at url, and
// whether it was there.
func metricValue(url, series string) (float64, bool) {
	res, err := http.Get(url)
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, series+" ") {
			f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return f, err == nil
		}
	}
	return 0, false
}

// leadSync shows lead-sync's throughput bound by its target: a target that
// takes 20 ms per request, at 16 and 64 deliveries in flight.
func (s *suite) leadSync(ctx context.Context) error {
	var delivered atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		delivered.Add(1)
	}))
	defer target.Close()
	for _, inflight := range []int{16, 64} {
		srv, url, err := s.natsServer()
		if err != nil {
			return err
		}
		bridge, _, err := s.bridge("--nats-url", url)
		if err != nil {
			return err
		}
		bridge.stop()
		if _, err := s.load(ctx, "--url", "", "--direct", "--nats-url", url, "--concurrency", "64", "--requests", "6000", "--known-ratio", "1", "--duration", "2m"); err != nil {
			return err
		}
		delivered.Store(0)
		sync, err := s.start("lead-sync", []string{"NATS_URL=" + url}, "--target-url", target.URL, "--max-in-flight", strconv.Itoa(inflight),
			"--deliver", "all", "--log-level", "warn")
		if err != nil {
			return err
		}
		start := time.Now()
		for delivered.Load() < 6000 && time.Since(start) < 2*time.Minute {
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(start)
		sync.stop()
		srv.stop()
		s.extra[fmt.Sprintf("lead-sync-%d", inflight)] = fmt.Sprintf("lead-sync, %d in flight, 20 ms target: %.0f deliveries/s (bound: %d)",
			inflight, float64(delivered.Load())/took.Seconds(), inflight*50)
	}
	return nil
}

// report prints the table and, for the steps that ran, what they compare.
func (s *suite) report(w io.Writer) {
	keys := []string{"direct-32", "bare-32", "bridge-32", "bridge-32-base", "direct-64", "bare-64", "bridge-64", "bridge-64-base",
		"bridge-open-half", "bridge-open-half-base", "bare-open-half", "stats-get/api/overview", "stats-get/"}
	for _, r := range embeddedRuns {
		keys = append(keys, r.key)
	}
	for _, r := range edgeRuns {
		keys = append(keys, r.key)
	}
	keys = append(keys, "edge-store-always", "edge-store-2m")
	var rows []loadgen.Result
	for _, k := range keys {
		if r, ok := s.results[k]; ok {
			rows = append(rows, r)
		}
	}
	loadgen.Table(w, rows)
	fmt.Fprintln(w)
	for _, c := range []string{"32", "64"} {
		b, ok := s.results["bridge-"+c]
		if !ok {
			continue
		}
		bare, d := s.results["bare-"+c], s.results["direct-"+c]
		fmt.Fprintf(w, "%s clients: storylane-bridge / bare bridge throughput %s (target ≥ 1.3×); bare / JetStream %s; CPU per webhook %.0f µs vs bare %.0f µs (the generator's own: %.0f and %.0f µs); peak RSS %.1f MiB (target ≤ 32)\n",
			c, loadgen.Ratio(b, bare), loadgen.Ratio(bare, d), b.CPUMicrosPer, bare.CPUMicrosPer, b.GeneratorCPUMicrosPer, bare.GeneratorCPUMicrosPer, b.PeakRSSMiB)
	}
	s.reportBaseline(w)
	if o, ok := s.results["bridge-open-half"]; ok {
		ob := s.results["bare-open-half"]
		fmt.Fprintf(w, "open loop at %.0f/s (half of peak): p99 %.2f ms (target ≤ 5 ms); the bare bridge at the same rate: p99 %.2f ms\n", o.Rate, o.LatencyMs["p99"], ob.LatencyMs["p99"])
	}
	if e, ok := s.results["bridge-embedded-64"]; ok {
		e2, one, one2 := s.results["bridge-embedded-64-2m"], s.results["bridge-embedded-1"], s.results["bridge-embedded-1-2m"]
		fmt.Fprintf(w, "embedded broker, 64 clients: sync always %.0f/s, peak RSS %.1f MiB (bridge and JetStream in one process); sync 2m %.0f/s (always / 2m %s)\n",
			e.Throughput, e.PeakRSSMiB, e2.Throughput, loadgen.Ratio(e, e2))
		fmt.Fprintf(w, "embedded broker, 1 client: sync always p50 %.2f ms, p99 %.2f ms, %.0f/s; sync 2m p50 %.2f ms, p99 %.2f ms, %.0f/s\n",
			one.LatencyMs["p50"], one.LatencyMs["p99"], one.Throughput, one2.LatencyMs["p50"], one2.LatencyMs["p99"], one2.Throughput)
	}
	s.reportEdge(w)
	for _, k := range []string{"replay", "replay2", "replay2-base", "lead-sync-16", "lead-sync-64", "stats-store", "stats-bare", "stats-rebuild-0", "stats-rebuild-1", "stats-rebuild-2"} {
		if line, ok := s.extra[k]; ok {
			fmt.Fprintln(w, line)
		}
	}
}

// reportBaseline compares the current code with the baseline, where both
// were measured.
func (s *suite) reportBaseline(w io.Writer) {
	for _, k := range []string{"bridge-32", "bridge-64", "bridge-open-half"} {
		cur, ok := s.results[k]
		base, okBase := s.results[k+"-base"]
		if !ok || !okBase {
			continue
		}
		fmt.Fprintf(w, "%s: this code / baseline %s: throughput %s; CPU per webhook %.0f vs %.0f µs; p99 %.2f vs %.2f ms; peak RSS %.1f vs %.1f MiB\n",
			k, s.baseRev, loadgen.Ratio(cur, base), cur.CPUMicrosPer, base.CPUMicrosPer, cur.LatencyMs["p99"], base.LatencyMs["p99"], cur.PeakRSSMiB, base.PeakRSSMiB)
	}
}
