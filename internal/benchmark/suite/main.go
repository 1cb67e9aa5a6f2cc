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
// embedded broker, session-archive replaying 100k events, and lead-sync
// against a slow target. It prints a table and writes the results as JSON to a
// temporary file it names.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	s, err := newSuite(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	fmt.Printf("storylane-bridge benchmark suite, %s, %d CPUs; the load generator shares the machine\n\n", time.Now().UTC().Format(time.RFC3339), s.cpus)
	for _, step := range []func(context.Context) error{s.throughput, s.openLoop, s.embedded, s.replay, s.leadSync} {
		if err := step(ctx); err != nil {
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
