package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
)

const synopsis = `Prints Storylane sessions from the bridge's stream: new ones as they arrive,
or, with --since or --from-start, history first and then new ones. Each
session is one line: readable (time, known/unknown, demo, completion, time
spent, company / lead) or, with --format json, the structured CloudEvent.
It keeps no state on the server (an ordered, ephemeral consumer).`

type config struct {
	nats      broker.ConnConfig
	stream    string
	subjects  broker.Subjects
	kind      string
	since     time.Duration
	fromStart bool
	format    string
	count     int
}

func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	f := cli.NewFlagSet("storylane-tail", synopsis, stdout)
	f.NATS(&c.nats, cli.DefaultNATSURL)
	f.Stream(&c.stream, &c.subjects)
	f.StringVar(&c.kind, "type", "TAIL_TYPE", "all", "sessions to show: known, unknown or all")
	f.DurationVar(&c.since, "since", "TAIL_SINCE", 0, "replay sessions stored in the last `duration` (2h, 30m) first")
	f.BoolVar(&c.fromStart, "from-start", "TAIL_FROM_START", false, "replay the whole stream first")
	f.StringVar(&c.format, "format", "TAIL_FORMAT", "text", "output `format`: text or json")
	f.IntVar(&c.count, "count", "TAIL_COUNT", 0, "exit after this many sessions; 0 follows until interrupted")
	if err := f.Parse(args, getenv); err != nil {
		return config{}, err
	}
	c.nats.Name = "storylane-tail"
	switch {
	case c.kind != "known" && c.kind != "unknown" && c.kind != "all":
		return config{}, fmt.Errorf("%w: --type %q: want known, unknown or all", cli.ErrUsage, c.kind)
	case c.format != "text" && c.format != "json":
		return config{}, fmt.Errorf("%w: --format %q: want text or json", cli.ErrUsage, c.format)
	case c.since < 0 || c.count < 0:
		return config{}, fmt.Errorf("%w: --since and --count cannot be negative", cli.ErrUsage)
	case c.since > 0 && c.fromStart:
		return config{}, fmt.Errorf("%w: --since and --from-start are exclusive", cli.ErrUsage)
	}
	if err := c.subjects.Validate(); err != nil {
		return config{}, fmt.Errorf("%w: --subject-prefix: %w", cli.ErrUsage, err)
	}
	return c, nil
}

// consumerConfig is the ordered consumer the flags ask for.
func (c config) consumerConfig(now time.Time) jetstream.OrderedConsumerConfig {
	oc := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	switch c.kind {
	case "known":
		oc.FilterSubjects = []string{c.subjects.Session(true)}
	case "unknown":
		oc.FilterSubjects = []string{c.subjects.Session(false)}
	default:
		oc.FilterSubjects = []string{c.subjects.Session(true), c.subjects.Session(false)}
	}
	switch {
	case c.fromStart:
		oc.DeliverPolicy = jetstream.DeliverAllPolicy
	case c.since > 0:
		start := now.Add(-c.since)
		oc.DeliverPolicy, oc.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	return oc
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	nc, err := broker.Connect(cfg.nats, zap.NewNop())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	var cons jetstream.Consumer
	err = broker.Await(ctx, zap.NewNop(), "the stream", func(ctx context.Context) error {
		cons, err = js.OrderedConsumer(ctx, cfg.stream, cfg.consumerConfig(time.Now()))
		return err
	})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read %s: %w", cfg.stream, err)
	}
	defer context.AfterFunc(ctx, it.Stop)()
	for n := 0; cfg.count == 0 || n < cfg.count; n++ {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", cfg.stream, err)
		}
		if err := printEvent(stdout, cfg.format, msg); err != nil {
			return err
		}
	}
	it.Stop()
	return nil
}

func printEvent(w io.Writer, format string, msg jetstream.Msg) error {
	e, err := consume.Decode(msg)
	if err != nil {
		_, err = fmt.Fprintf(w, "# stream message on %s is not a session: %v\n", msg.Subject(), err)
		return err
	}
	line, err := formatEvent(format, e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}
