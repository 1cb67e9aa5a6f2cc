package main

import (
	"context"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/archive"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/tracing"
)

const synopsis = `Consumes every Storylane session (storylane.session.known and .unknown) from
the bridge's stream and appends each, as one line of structured CloudEvent
JSON, to <dir>/dt=YYYY-MM-DD/sessions.ndjson by the event's day (UTC; the day
the stream stored it when its time is outside the years 2000-2100). An event
is acknowledged only once its line is fsynced, and an event already in the
archive is recognised by its id and skipped, so each appears exactly once even
when the process is killed and restarted. --replay rebuilds the archive from
the first event in the stream, adding what is missing: it reads the stream with
an ordered consumer, then goes on with the durable (through the durable alone
where the user may not create an ordered consumer).`

type config struct {
	consumer      consume.ProcessConfig
	dir           string
	replay        bool
	groupReadable bool
}

func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	f := cli.NewFlagSet("session-archive", synopsis, stdout)
	consume.DefineFlags(f, &c.consumer, "session-archive", 1024, "all")
	f.StringVar(&c.dir, "dir", "ARCHIVE_DIR", "./archive", "`directory` of the archive")
	f.BoolVar(&c.replay, "replay", "ARCHIVE_REPLAY", false, "rebuild the archive from the stream's first event, then go on")
	f.BoolVar(&c.groupReadable, "group-readable", "ARCHIVE_GROUP_READABLE", false,
		"let the directory's group read the archive: files 0640 and directories 0750 instead of 0600 and 0700")
	if err := f.Parse(args, getenv); err != nil {
		return config{}, err
	}
	c.consumer.NATS.Name = "session-archive"
	if err := c.consumer.Validate(); err != nil {
		return config{}, err
	}
	if c.dir == "" {
		return config{}, fmt.Errorf("%w: --dir is empty", cli.ErrUsage)
	}
	// One filter over both kinds of session, so that a least-privilege user
	// can be held to it (deploy/nats/accounts.conf).
	c.consumer.Consumer.FilterSubjects = []string{c.consumer.Consumer.Subjects.Prefix + ".session.*"}
	if c.replay {
		if c.consumer.Redrive {
			return config{}, fmt.Errorf("%w: --replay and --redrive do not go together: re-drive first, then replay", cli.ErrUsage)
		}
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	logger, stopLog, err := cli.NewLogger(cfg.consumer.Log, stdout)
	if err != nil {
		return err
	}
	defer stopLog()
	tp, flush, err := tracing.Start(ctx, cfg.consumer.OTLPEndpoint, "session-archive", logger)
	if err != nil {
		return err
	}
	defer flush()
	var opts []archive.Option
	if cfg.groupReadable {
		opts = append(opts, archive.GroupReadable())
	}
	arc, err := archive.Open(cfg.dir, opts...)
	if err != nil {
		return err
	}
	defer arc.Close()
	// A failed write or fsync stops the process: what is on disk is then
	// repaired by the next start, and unacknowledged events come again.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-arc.Broken():
			logger.Error("archive write failed; stopping")
			cancel()
		case <-ctx.Done():
		}
	}()
	out := &sink{arc: arc}
	copies := []consume.Option{consume.AsStored()}
	if cfg.replay {
		logger.Info("replaying from the first event", zap.String("durable", cfg.consumer.Consumer.Durable))
		copies = append(copies, consume.WithReplay(out))
	}
	logger.Info("archiving sessions", zap.String("dir", cfg.dir))
	if err := consume.RunProcess(ctx, cfg.consumer, out.handle, logger, tp, copies...); err != nil {
		return err
	}
	select {
	case <-arc.Broken():
		return fmt.Errorf("archive: %w", arc.Close())
	default:
		return arc.Close()
	}
}
