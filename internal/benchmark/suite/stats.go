package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/loadgen"
)

const statsEvents = 1_000_000

// statsLimits are the collector settings session-stats rebuilds under
// after the one it ships with: GOGC=50, and Go's default.
var statsLimits = []string{"GOGC=50", "GOGC=100"}

// The dashboard's load: open loop, each path at its own fixed rate.
var statsLoads = []struct{ path, rate string }{{"/api/overview", "20"}, {"/", "10"}}

// stats stores 1,000,000 sessions, then, side by side: a bare ordered
// consumer reading them all, session-stats rebuilding its figures from them
// (events/s, peak RSS), the dashboard's API under an open-loop load while
// it holds them, session-stats rebuilding again under other collector settings,
// and the bare consumer again.
func (s *suite) stats(ctx context.Context) error {
	srv, url, err := s.streamServer()
	if err != nil {
		return err
	}
	defer srv.stop()
	start := time.Now()
	if err := storeSessions(ctx, url, statsEvents); err != nil {
		return fmt.Errorf("storing sessions: %w", err)
	}
	stored := time.Since(start)
	syscall.Sync() // written now, not during what follows
	bare, err := readAll(ctx, url, statsEvents)
	if err != nil {
		return err
	}
	rb, err := s.rebuild(url)
	if err != nil {
		return err
	}
	err = s.statsLoad(ctx, rb)
	rb.proc.stop()
	if err != nil {
		return err
	}
	// The same under other collector settings: what each costs in time.
	others := make([]rebuilt, len(statsLimits))
	for i, limit := range statsLimits {
		if others[i], err = s.rebuild(url, limit); err != nil {
			return err
		}
		others[i].proc.stop()
	}
	// The bare consumer again: the better of the two is the reference.
	bare2, err := readAll(ctx, url, statsEvents)
	if err != nil {
		return err
	}
	bareRate := float64(statsEvents) / min(bare, bare2).Seconds()
	s.extra["stats-store"] = fmt.Sprintf("stats: %d sessions (%d demos, %d campaigns, %d days, a third revealed) stored in %.1f s (%.0f/s, async, %d acks outstanding)",
		statsEvents, statsDemos, statsCampaigns, statsDays, stored.Seconds(), statsEvents/stored.Seconds(), publishWindow)
	s.extra["stats-bare"] = fmt.Sprintf("a bare ordered consumer (nats.go's defaults) reading them: %.0f and %.0f events/s (before and after)",
		statsEvents/bare.Seconds(), statsEvents/bare2.Seconds())
	for i, r := range append([]rebuilt{rb}, others...) {
		rate := float64(statsEvents) / r.took.Seconds()
		s.extra["stats-rebuild-"+strconv.Itoa(i)] = fmt.Sprintf("session-stats --rebuild, %s: %.2f s from its start: %.0f events/s, %.2f of the bare rate (target ≥ 0.5); peak RSS %.1f MiB (target < 64)",
			r.env, r.took.Seconds(), rate, rate/bareRate, r.peakMiB)
	}
	return nil
}

// statsLoad measures the dashboard's API of the session-stats holding the
// events under an open-loop load, path by path.
func (s *suite) statsLoad(ctx context.Context, rb rebuilt) error {
	pid := strconv.Itoa(rb.proc.cmd.Process.Pid)
	for _, l := range statsLoads {
		rs, err := s.load(ctx, "--method", "GET", "--url", "http://"+rb.api+l.path, "--label", "session-stats GET "+l.path,
			"--mode", "open", "--rate", l.rate, "--concurrency", "16", "--duration", runFor, "--pid", pid)
		if err != nil {
			return err
		}
		s.results["stats-get"+l.path] = rs[0]
	}
	return nil
}

// readAll times a bare ordered consumer, nats.go's defaults, reading n
// events from the stream's start.
func readAll(ctx context.Context, url string, n int) (time.Duration, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	oc, err := js.OrderedConsumer(ctx, broker.DefaultStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	it, err := oc.Messages()
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	for i := range n {
		if _, err := it.Next(jetstream.NextMaxWait(10 * time.Second)); err != nil {
			return 0, fmt.Errorf("bare ordered consumer, event %d of %d: %w", i+1, n, err)
		}
	}
	return time.Since(start), nil
}

// rebuilt is a session-stats that has rebuilt its figures.
type rebuilt struct {
	proc     *proc
	api, env string
	took     time.Duration
	peakMiB  float64
}

// rebuild starts session-stats --rebuild, as shipped (its defaults) with
// env added, and times it from its start until it has applied the
// stream's statsEvents events; its peak RSS is the process's high-water
// mark then.
func (s *suite) rebuild(url string, env ...string) (rebuilt, error) {
	label := "as shipped"
	if len(env) > 0 {
		label = strings.Join(env, " ")
	}
	env = append([]string{"NATS_URL=" + url}, env...)
	state, err := os.MkdirTemp(s.root, "stats")
	if err != nil {
		return rebuilt{}, err
	}
	start := time.Now()
	p, err := s.start("session-stats", env, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--state-dir", filepath.Join(state, "state"), "--rebuild")
	if err != nil {
		return rebuilt{}, err
	}
	p.store = state
	line, err := p.wait("admin listening")
	if err != nil {
		return rebuilt{}, err
	}
	// By its applied events, not its "caught up" line: that comes after a
	// second without an event too, which a stall on a busy machine makes.
	metrics := "http://" + field(line, "addr") + "/metrics"
	for applied(metrics) < statsEvents {
		if time.Since(start) > 5*time.Minute {
			return rebuilt{}, fmt.Errorf("session-stats applied %.0f of %d events in 5 minutes", applied(metrics), statsEvents)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	peak, err := loadgen.NewProcess(p.cmd.Process.Pid).PeakRSSMiB()
	if err != nil {
		return rebuilt{}, err
	}
	api, err := p.wait("api listening")
	if err != nil {
		return rebuilt{}, err
	}
	return rebuilt{proc: p, api: field(api, "addr"), took: took, peakMiB: peak, env: label + ", " + collector(p)}, nil
}

func applied(metrics string) float64 {
	return metric(metrics, "storylane_stats_events_applied_total")
}

// collector says how the process's collector ran, as it logged it.
func collector(p *proc) string {
	line, err := p.wait("following the stream")
	if err != nil {
		return "collector unknown"
	}
	if limit := number(line, "memory_limit"); limit < 1<<50 {
		return fmt.Sprintf("memory limit %.0f MiB at its start", limit/(1<<20))
	}
	return "no memory limit"
}
