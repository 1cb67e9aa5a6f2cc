package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
)

const synopsis = `Prints Storylane sessions from the bridge's stream: new ones as they arrive,
or, with --since, --viewed-since or --from-start, history first and then new
ones. With --backlog it prints an edge's backlog, the webhooks not yet on the
hub, and exits. Each session is one line: readable (the time it was viewed, known or
unknown, demo, completion, time spent, company / lead, under a header line)
or, with --format json, the structured CloudEvent. What it reads and that it
waits is said on stderr, so stdout holds sessions only. It keeps no state on
the server: its ordered, ephemeral consumer is deleted when it exits (or,
if it is killed, by the server after 30 s without it).`

type config struct {
	nats        broker.ConnConfig
	stream      string
	subjects    broker.Subjects
	kind        string
	since       time.Duration
	viewedSince time.Duration
	fromStart   bool
	format      string
	count       int
	backlog     bool
	domain      string
}

func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	f := cli.NewFlagSet("storylane-tail", synopsis, stdout)
	f.NATS(&c.nats, cli.DefaultNATSURL)
	f.Stream(&c.stream, &c.subjects)
	f.StringVar(&c.kind, "type", "TAIL_TYPE", "all", "sessions to show: known, unknown or all")
	f.DurationVar(&c.since, "since", "TAIL_SINCE", 0, "first replay the sessions the bridge stored in the last `duration` (2h, 30m), whenever they were viewed")
	f.DurationVar(&c.viewedSince, "viewed-since", "TAIL_VIEWED_SINCE", 0, "show only sessions viewed (viewed_at) in the last `duration`, replayed first, then new ones")
	f.BoolVar(&c.fromStart, "from-start", "TAIL_FROM_START", false, "replay the whole stream first")
	f.StringVar(&c.format, "format", "TAIL_FORMAT", "text", "output `format`: text or json")
	f.IntVar(&c.count, "count", "TAIL_COUNT", 0, "exit after this many sessions; 0 follows until interrupted")
	f.BoolVar(&c.backlog, "backlog", "TAIL_BACKLOG", false, "print an edge's backlog (the webhooks the hub does not have yet), oldest first, and exit")
	f.StringVar(&c.domain, "js-domain", "TAIL_JS_DOMAIN", "", "read the stream of this JetStream `domain`: edge-<name> reads an edge's through the hub")
	if err := f.Parse(args, getenv); err != nil {
		return config{}, err
	}
	c.nats.Name = "storylane-tail"
	if err := c.validate(); err != nil {
		return config{}, err
	}
	return c, nil
}

func (c config) validate() error {
	starts := 0
	for _, set := range []bool{c.since > 0, c.viewedSince > 0, c.fromStart, c.backlog} {
		if set {
			starts++
		}
	}
	switch {
	case c.kind != "known" && c.kind != "unknown" && c.kind != "all":
		return fmt.Errorf("%w: --type %q: want known, unknown or all", cli.ErrUsage, c.kind)
	case c.format != "text" && c.format != "json":
		return fmt.Errorf("%w: --format %q: want text or json", cli.ErrUsage, c.format)
	case c.since < 0 || c.viewedSince < 0 || c.count < 0:
		return fmt.Errorf("%w: --since, --viewed-since and --count cannot be negative", cli.ErrUsage)
	case starts > 1:
		return fmt.Errorf("%w: --since, --viewed-since, --from-start and --backlog are exclusive", cli.ErrUsage)
	}
	if err := c.subjects.Validate(); err != nil {
		return fmt.Errorf("%w: --subject-prefix: %w", cli.ErrUsage, err)
	}
	return nil
}

// clockSkew is how far Storylane's clock may run ahead of the broker's: a
// session viewed after the --viewed-since cutoff by its viewed_at may have
// been stored, by the broker's clock, a little before it.
const clockSkew = 5 * time.Minute

// inactiveThreshold is how long the server keeps the ordered consumer of a
// tail that went away without deleting it (killed): nats.go's default is
// five minutes, long enough for people to wonder whose it is.
const inactiveThreshold = 30 * time.Second

// consumerConfig is the ordered consumer the flags ask for.
func (c config) consumerConfig(now time.Time) jetstream.OrderedConsumerConfig {
	oc := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy, InactiveThreshold: inactiveThreshold}
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
	case c.viewedSince > 0:
		// A session is stored after it is viewed, so every one viewed
		// since the cutoff was stored since then (give or take the
		// clocks); shown() skips those viewed earlier.
		start := now.Add(-c.viewedSince - clockSkew)
		oc.DeliverPolicy, oc.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	return oc
}

// filter is the subjects --type shows in a backlog: with all, every
// event the edge holds, the invalid ones too, which it forwards alike.
func (c config) filter() string {
	if c.kind == "all" {
		return c.subjects.All()
	}
	return c.subjects.Session(c.kind == "known")
}

// shown is whether a session viewed at viewed passes --viewed-since, as
// judged at start.
func (c config) shown(viewed, start time.Time) bool {
	return c.viewedSince == 0 || !viewed.Before(start.Add(-c.viewedSince))
}

// what says, for a person, what the flags read.
func (c config) what() string {
	kind := map[string]string{"all": "known and unknown", "known": "known", "unknown": "unknown"}[c.kind] + " sessions"
	switch {
	case c.fromStart:
		return kind + ", the whole stream first"
	case c.since > 0:
		return fmt.Sprintf("%s, those stored in the last %s first", kind, c.since)
	case c.viewedSince > 0:
		return fmt.Sprintf("%s viewed in the last %s", kind, c.viewedSince)
	}
	return kind + ", new ones"
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	nc, err := broker.Connect(cfg.nats, zap.NewNop())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := openJetStream(nc, cfg.domain)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if cfg.backlog {
		return backlog(ctx, js, cfg, where(nc.ConnectedUrlRedacted(), cfg.domain), stdout, stderr)
	}
	start := time.Now()
	var cons jetstream.Consumer
	err = broker.Await(ctx, zap.NewNop(), "the stream", func(ctx context.Context) error {
		cons, err = js.OrderedConsumer(ctx, cfg.stream, cfg.consumerConfig(start))
		return err
	})
	if err != nil {
		return err
	}
	defer deleteConsumer(js, cfg.stream, cons)
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read %s: %w", cfg.stream, err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)()
	fmt.Fprintf(stderr, "storylane-tail: reading stream %s on %s: %s; waiting for sessions (Ctrl-C stops)\n",
		cfg.stream, nc.ConnectedUrlRedacted(), cfg.what())
	if cfg.format == "text" {
		if _, err := fmt.Fprintln(stdout, header()); err != nil {
			return err
		}
	}
	return follow(it, cfg, start, stdout)
}

// openJetStream is the JetStream of domain, nc's own when it is empty.
func openJetStream(nc *nats.Conn, domain string) (jetstream.JetStream, error) {
	if domain == "" {
		return jetstream.New(nc)
	}
	return jetstream.NewWithDomain(nc, domain)
}

// where names the server, and the domain when one is given.
func where(url, domain string) string {
	if domain == "" {
		return url
	}
	return url + " (domain " + domain + ")"
}

// follow prints the sessions it reads until --count of them are printed or
// the iterator is stopped.
func follow(it jetstream.MessagesContext, cfg config, start time.Time, stdout io.Writer) error {
	for n := 0; cfg.count == 0 || n < cfg.count; {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", cfg.stream, err)
		}
		printed, err := printEvent(stdout, cfg, start, msg)
		if err != nil {
			return err
		}
		if printed {
			n++
		}
	}
	return nil
}

// deleteConsumer removes the ordered consumer from the server at exit, so
// that it is not listed there for minutes; if that fails, the server removes
// it after inactiveThreshold.
func deleteConsumer(js jetstream.JetStream, stream string, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	js.DeleteConsumer(ctx, stream, info.Name)
}

// printEvent prints msg's session if it passes --viewed-since, and says
// whether it did.
func printEvent(w io.Writer, cfg config, start time.Time, msg jetstream.Msg) (bool, error) {
	e, err := consume.Decode(msg)
	if err != nil {
		_, err = fmt.Fprintf(w, "# stream message on %s is not a session: %v\n", msg.Subject(), err)
		return false, err
	}
	if !cfg.shown(e.CloudEvent.Time(), start) {
		return false, nil
	}
	line, err := formatEvent(cfg.format, e)
	if err != nil {
		return false, err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return true, err
}
