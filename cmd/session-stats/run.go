package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/httpserver"
	"github.com/storylane-bridge/storylane-bridge/internal/stats/follow"
)

const synopsis = `Keeps demo analytics computed from every Storylane session in the bridge's
stream (storylane.session.known and .unknown): per day (viewed_at's UTC date)
and demo, sessions, known rate, completion, time spent, checklist and CTA
rates; per campaign (utm_*) sessions and known rate; per revealed company
sessions and last visit. Never a lead's e-mail or name. It reads the stream
with an ordered consumer (nothing kept on the server), from the snapshot in
--state-dir when there is one, counts each event id once, follows new events
live, and serves on --listen a dashboard page at / (charts, tables, live
updates; no request to any other host) and /api/overview, /api/demos,
/api/campaigns and /api/companies (?from=YYYY-MM-DD&to=YYYY-MM-DD&demo=...,
?format=csv). --rebuild ignores the snapshot. Its soft memory limit is 56 MiB, or
half as much again as its live heap once that is larger, unless GOMEMLIMIT
or GOGC says how to collect.`

func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (follow.ProcessConfig, cli.LogConfig, error) {
	var c follow.ProcessConfig
	var log cli.LogConfig
	f := cli.NewFlagSet("session-stats", synopsis, stdout)
	f.NATS(&c.NATS, cli.DefaultNATSURL)
	f.Stream(&c.Stream, &c.Subjects)
	f.StringVar(&c.Listen, "listen", "STATS_LISTEN", "127.0.0.1:8090", "`address` of the dashboard and its JSON and CSV API")
	f.StringVar(&c.AdminListen, "admin-listen", "ADMIN_LISTEN", "", "`address` of the operators' listener (/metrics, /healthz, /readyz, and /debug/pprof with --pprof); empty for none")
	f.Pprof(&c.Pprof)
	f.StringVar(&c.StateDir, "state-dir", "STATS_STATE_DIR", "./session-stats", "`directory` of the snapshot")
	f.DurationVar(&c.SnapshotInterval, "snapshot-interval", "STATS_SNAPSHOT_INTERVAL", 30*time.Second, "how often the snapshot is written (and at shutdown)")
	f.BoolVar(&c.Rebuild, "rebuild", "STATS_REBUILD", false, "ignore the snapshot: count again from the stream's first event")
	f.Logging(&log)
	if err := f.Parse(args, getenv); err != nil {
		return c, log, err
	}
	c.NATS.Name = "session-stats"
	switch {
	case c.StateDir == "":
		return c, log, fmt.Errorf("%w: --state-dir is empty", cli.ErrUsage)
	case c.SnapshotInterval <= 0:
		return c, log, fmt.Errorf("%w: --snapshot-interval must be positive", cli.ErrUsage)
	}
	for flag, addr := range map[string]string{"--listen": c.Listen, "--admin-listen": c.AdminListen} {
		if addr == "" && flag == "--admin-listen" {
			continue
		}
		if err := httpserver.CheckAddr(addr); err != nil {
			return c, log, fmt.Errorf("%w: %s: %w", cli.ErrUsage, flag, err)
		}
	}
	if err := c.Subjects.Validate(); err != nil {
		return c, log, fmt.Errorf("%w: --subject-prefix: %w", cli.ErrUsage, err)
	}
	return c, log, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, logCfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	logger, stopLog, err := cli.NewLogger(logCfg, stdout)
	if err != nil {
		return err
	}
	defer stopLog()
	return follow.RunProcess(ctx, cfg, logger)
}
