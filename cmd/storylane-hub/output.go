package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/hub"
)

func check(ctx context.Context, js jetstream.JetStream, cfg config, stdout io.Writer) error {
	r, err := hub.Check(ctx, js, cfg.hub, cfg.maxSilence)
	if err != nil {
		return err
	}
	write := hub.WriteText
	if cfg.format == "json" {
		write = hub.WriteJSON
	}
	if err := write(stdout, r); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if !r.Healthy {
		return hub.ErrUnhealthy
	}
	return nil
}

// printResult says what Ensure found and did, an edge a line.
func printResult(w io.Writer, cfg hub.Config, res hub.Result) {
	switch {
	case res.Created:
		fmt.Fprintf(w, "stream %s: created, duplicate window %s\n", cfg.Stream, cfg.Duplicates)
	case res.WindowChanged:
		fmt.Fprintf(w, "stream %s: duplicate window %s, was %s\n", cfg.Stream, cfg.Duplicates, res.WindowWas)
	}
	for _, e := range res.Present {
		fmt.Fprintf(w, "edge %s: source already declared, left as it is\n", e)
	}
	for _, e := range res.Added {
		fmt.Fprintf(w, "edge %s: source added\n", e)
	}
	for _, e := range slices.Sorted(maps.Keys(res.Silent)) {
		fmt.Fprintf(w, "edge %s: does not answer through the hub yet; its source starts about 5 s after it does (see --check)\n", e)
	}
}
