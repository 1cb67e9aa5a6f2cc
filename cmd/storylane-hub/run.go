package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/hub"
)

const synopsis = `Sets up the hub of edge mode: creates the hub's stream with an explicit
duplicate window, replicas and placement, and declares one durable source per
edge named in --edges (each new edge is waited for, up to --edge-timeout, so
that forwarding starts at once). It adds what is missing and never edits a
declared source: one that differs is refused.
With --check it changes nothing and reports, per edge, whether its source is
declared, active and how far behind, and whether the edge answers; it exits 1
when any is not healthy.`

type config struct {
	nats       broker.ConnConfig
	hub        hub.Config
	tags       cli.StringList
	edges      cli.StringList
	check      bool
	format     string
	maxSilence time.Duration
	log        cli.LogConfig
}

func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	f := cli.NewFlagSet("storylane-hub", synopsis, stdout)
	f.NATS(&c.nats, cli.DefaultNATSURL)
	f.Stream(&c.hub.Stream, &c.hub.Subjects)
	f.DurationVar(&c.hub.Duplicates, "duplicate-window", "HUB_DUPLICATE_WINDOW", 0, "the hub's duplicate window (required): longer than the longest edge outage; about 135 B of hub memory per webhook in it")
	f.IntVar(&c.hub.Replicas, "stream-replicas", "STREAM_REPLICAS", 0, "stream replicas: 1, or 3 on a cluster (default: 1 for a new stream, an existing one's unchanged)")
	f.StringVar(&c.hub.PlacementCluster, "stream-placement-cluster", "STREAM_PLACEMENT_CLUSTER", "", "place the stream in this NATS `cluster` (default: none for a new stream, an existing one's unchanged)")
	f.StringListVar(&c.tags, "stream-placement-tags", "STREAM_PLACEMENT_TAGS", "place the stream on servers with all these `tags`, comma-separated")
	f.StringListVar(&c.edges, "edges", "HUB_EDGES", "the edges' `names` (their --edge-name), comma-separated; with --check, every declared edge when empty")
	f.DurationVar(&c.hub.EdgeTimeout, "edge-timeout", "HUB_EDGE_TIMEOUT", 5*time.Second, "how long a new edge's HUB consumer is waited for to answer through the hub before its source is declared anyway (it then starts about 5 s after the edge answers)")
	f.BoolVar(&c.check, "check", "HUB_CHECK", false, "change nothing: report each edge's source and exit 1 if any is not healthy")
	f.StringVar(&c.format, "format", "HUB_FORMAT", "text", "--check's output `format`: text or json")
	f.DurationVar(&c.maxSilence, "max-silence", "HUB_MAX_SILENCE", 10*time.Second, "with --check, a source that heard nothing from its edge (events or its 1 s heartbeat) for longer is not healthy")
	f.Logging(&c.log)
	if err := f.Parse(args, getenv); err != nil {
		return config{}, err
	}
	c.nats.Name = "storylane-hub"
	c.hub.PlacementTags, c.hub.Edges = c.tags, c.edges
	return c, c.validate()
}

func (c config) validate() error {
	if c.format != "text" && c.format != "json" {
		return fmt.Errorf("%w: --format %q: want text or json", cli.ErrUsage, c.format)
	}
	if c.maxSilence <= 0 {
		return fmt.Errorf("%w: --max-silence must be positive", cli.ErrUsage)
	}
	if c.check {
		return c.hub.Validate()
	}
	return c.hub.ValidateCreate()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	logger, stopLog, err := cli.NewLogger(cfg.log, stderr)
	if err != nil {
		return err
	}
	defer stopLog()
	js, closeJS, err := broker.ConnectJetStream(cfg.nats, logger)
	if err != nil {
		return err
	}
	defer closeJS()
	if cfg.check {
		return check(ctx, js, cfg, stdout)
	}
	res, err := hub.Ensure(ctx, js, cfg.hub)
	if err != nil {
		return err
	}
	printResult(stdout, cfg.hub, res)
	logger.Info("hub stream set up", zap.String("stream", cfg.hub.Stream), zap.Strings("added", res.Added))
	return nil
}
