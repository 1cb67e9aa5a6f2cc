package consume

import (
	"fmt"

	"github.com/storylane-bridge/storylane-bridge/internal/admin"
	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/httpserver"
	"github.com/storylane-bridge/storylane-bridge/internal/usage"
)

// ProcessConfig is the configuration every consumer binary shares.
type ProcessConfig struct {
	NATS     broker.ConnConfig
	Consumer Config
	Backoff  cli.DurationList
	Deliver  string
	Redrive  bool
	Log      cli.LogConfig
	// AdminListen is the address of /healthz and /readyz; empty for none.
	AdminListen string
	// Pprof serves /debug/pprof/ on AdminListen.
	Pprof bool
	// OTLPEndpoint receives traces; empty for none.
	OTLPEndpoint string
}

// DefineFlags defines on f the flags of a consumer binary, which fill c:
// the connection, the stream, the durable consumer and its retry policy,
// and logging. deliver is where a new durable starts: "all" or "new".
func DefineFlags(f *cli.FlagSet, c *ProcessConfig, durable string, maxInFlight int, deliver string) {
	f.NATS(&c.NATS, cli.DefaultNATSURL)
	f.Stream(&c.Consumer.Stream, &c.Consumer.Subjects)
	cc := &c.Consumer
	f.StringVar(&cc.Durable, "durable", "CONSUMER_DURABLE", durable, "durable consumer `name`; instances sharing it share the events")
	f.DurationVar(&cc.AckWait, "ack-wait", "CONSUMER_ACK_WAIT", DefaultAckWait, "redeliver an event not acknowledged within this")
	f.IntVar(&cc.MaxDeliver, "max-deliver", "CONSUMER_MAX_DELIVER", DefaultMaxDeliver, "attempts per event before it is dead-lettered")
	f.DurationListVar(&c.Backoff, "backoff", "CONSUMER_BACKOFF", DefaultBackoff(), "`delays` before each retry, comma-separated durations; the last repeats")
	f.IntVar(&cc.MaxInFlight, "max-in-flight", "CONSUMER_MAX_IN_FLIGHT", maxInFlight, "events handled at once")
	f.StringVar(&c.Deliver, "deliver", "CONSUMER_DELIVER", deliver, "where a new durable starts: all (the stream's first event) or new")
	f.BoolVar(&c.Redrive, "redrive", "CONSUMER_REDRIVE", false, "give each event on this consumer's dead-letter subject one more try, then exit")
	f.StringVar(&c.AdminListen, "admin-listen", "ADMIN_LISTEN", "", "`address` of the operators' listener (/metrics, /healthz, /readyz, and /debug/pprof with --pprof); empty for none")
	f.Pprof(&c.Pprof)
	f.Logging(&c.Log)
	f.Tracing(&c.OTLPEndpoint)
}

// Validate checks the consumer settings after parsing.
func (c *ProcessConfig) Validate() error {
	c.Consumer.Backoff = c.Backoff
	switch {
	case ValidateName(c.Consumer.Durable) != nil:
		return fmt.Errorf("%w: --durable: %w", usage.Err, ValidateName(c.Consumer.Durable))
	case c.Consumer.MaxDeliver < 1 || c.Consumer.MaxInFlight < 1 || c.Consumer.AckWait <= 0:
		return fmt.Errorf("%w: --max-deliver, --max-in-flight and --ack-wait must be positive", usage.Err)
	case c.Deliver != "all" && c.Deliver != "new":
		return fmt.Errorf("%w: --deliver %q: want all or new", usage.Err, c.Deliver)
	}
	if c.AdminListen != "" {
		if err := httpserver.CheckAddr(c.AdminListen); err != nil {
			return fmt.Errorf("%w: --admin-listen: %w", usage.Err, err)
		}
	}
	c.Consumer.DeliverAll = c.Deliver == "all"
	if err := c.Consumer.Subjects.Validate(); err != nil {
		return fmt.Errorf("%w: --subject-prefix: %w", usage.Err, err)
	}
	return nil
}

func (c *ProcessConfig) adminOptions() []admin.Option {
	if c.Pprof {
		return []admin.Option{admin.WithPprof()}
	}
	return nil
}
