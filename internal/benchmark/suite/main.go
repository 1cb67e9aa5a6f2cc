// Command suite is the benchmark suite in one command:
//
//	go run ./internal/benchmark/suite
//
// It builds storylane-bridge, the load generator, the consumers, the bare
// hand-written baseline bridge and nats-server (the version in go.mod),
// then measures, in one run on this machine: JetStream's own bound, the
// bare bridge and storylane-bridge at 32 and 64 clients against a local
// nats-server (throughput, CPU per webhook, peak memory), storylane-bridge
// open-loop at half its peak rate (latency), storylane-bridge on its
// embedded broker, edge mode (the bridge as a leaf of a hub nats-server,
// and a backlog's catch-up), session-archive replaying 100k events, lead-sync
// against a slow target, and session-stats rebuilding from a million events
// beside a bare ordered consumer reading them (events/s, peak RSS), then its
// dashboard's API under an open-loop load. It prints a table and writes the
// results as JSON to a temporary file it names.
//
// -steps runs some of the steps only, e.g. -steps embedded for the embedded
// broker with --sync-interval always and 2m side by side (about 40 s),
// -steps edge for edge mode (the bridge as an edge with its hub linked
// against the embedded broker, and a 50k backlog's catch-up once the hub
// is back; about 3 min), or
// -steps stats for session-stats alone (about 5 min, most of it storing
// the million events).
// openLoop runs at half the rate throughput measured, so it needs it.
//
// -baseline REV also builds storylane-bridge and session-archive from the
// git revision REV and measures them beside the current code in the same
// run (throughput, CPU per webhook, open-loop latency, replay): the way to
// show that a change keeps performance where it was, since numbers from
// two runs on a shared machine drift by more than most changes move them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	steps := flag.String("steps", "throughput,openLoop,embedded,edge,replay,leadSync,stats", "comma-separated `steps` to run, in the suite's order")
	baseline := flag.String("baseline", "", "also measure storylane-bridge and session-archive built from this git `revision`, side by side")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(*steps, ","), *baseline); err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		os.Exit(1)
	}
}

type step struct {
	name string
	run  func(*suite, context.Context) error
}

func run(ctx context.Context, only []string, baseline string) error {
	steps := []step{{"throughput", (*suite).throughput}, {"openLoop", (*suite).openLoop}, {"embedded", (*suite).embedded},
		{"edge", (*suite).edge}, {"replay", (*suite).replay}, {"leadSync", (*suite).leadSync}, {"stats", (*suite).stats}}
	for _, name := range only {
		if !slices.ContainsFunc(steps, func(st step) bool { return st.name == name }) {
			return fmt.Errorf("-steps: no step %q", name)
		}
	}
	if slices.Contains(only, "openLoop") && !slices.Contains(only, "throughput") {
		return fmt.Errorf("-steps: openLoop runs at half the peak that throughput measures; run both")
	}
	s, err := newSuite(ctx, baseline)
	if err != nil {
		return err
	}
	defer s.close()
	fmt.Printf("storylane-bridge benchmark suite, %s, %d CPUs; the load generator shares the machine\n", time.Now().UTC().Format(time.RFC3339), s.cpus)
	if warning := s.storeWarning(); warning != "" {
		fmt.Println(warning)
	}
	fmt.Println()
	for _, st := range steps {
		if !slices.Contains(only, st.name) {
			continue
		}
		if err := st.run(s, ctx); err != nil {
			return err
		}
	}
	s.report(os.Stdout)
	b, _ := json.MarshalIndent(s.results, "", "  ")
	// Outside the suite's work directory, which goes when it ends.
	out, err := os.CreateTemp("", "storylane-bench-*.json")
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := out.Write(append(b, '\n')); err != nil {
		return err
	}
	fmt.Printf("\nresults: %s\n", out.Name())
	return nil
}
