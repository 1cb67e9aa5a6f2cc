package cli

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/admin"
	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
)

// DefaultNATSURL is where the bridge's embedded broker listens by default.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// ConsumerFlags is the configuration every consumer binary shares.
type ConsumerFlags struct {
	NATS     broker.ConnConfig
	Consumer consume.Config
	Backoff  DurationList
	Deliver  string
	Redrive  bool
	Log      LogConfig
	// AdminListen is the address of /healthz and /readyz; empty for none.
	AdminListen string
	// Pprof serves /debug/pprof/ on AdminListen.
	Pprof bool
	// OTLPEndpoint receives traces; empty for none.
	OTLPEndpoint string
}

// Consumer defines the flags of a consumer binary: the connection, the
// stream, the durable consumer and its retry policy, and logging. deliver
// is where a new durable starts: "all" or "new".
func (f *FlagSet) Consumer(c *ConsumerFlags, durable string, maxInFlight int, deliver string) {
	f.NATS(&c.NATS, DefaultNATSURL)
	f.Stream(&c.Consumer.Stream, &c.Consumer.Subjects)
	cc := &c.Consumer
	f.StringVar(&cc.Durable, "durable", "CONSUMER_DURABLE", durable, "durable consumer `name`; instances sharing it share the events")
	f.DurationVar(&cc.AckWait, "ack-wait", "CONSUMER_ACK_WAIT", consume.DefaultAckWait, "redeliver an event not acknowledged within this")
	f.IntVar(&cc.MaxDeliver, "max-deliver", "CONSUMER_MAX_DELIVER", consume.DefaultMaxDeliver, "attempts per event before it is dead-lettered")
	f.DurationListVar(&c.Backoff, "backoff", "CONSUMER_BACKOFF", consume.DefaultBackoff(), "`delays` before each retry, comma-separated durations; the last repeats")
	f.IntVar(&cc.MaxInFlight, "max-in-flight", "CONSUMER_MAX_IN_FLIGHT", maxInFlight, "events handled at once")
	f.StringVar(&c.Deliver, "deliver", "CONSUMER_DELIVER", deliver, "where a new durable starts: all (the stream's first event) or new")
	f.BoolVar(&c.Redrive, "redrive", "CONSUMER_REDRIVE", false, "give each event on this consumer's dead-letter subject one more try, then exit")
	f.StringVar(&c.AdminListen, "admin-listen", "ADMIN_LISTEN", "", "`address` of the operators' listener (/metrics, /healthz, /readyz, and /debug/pprof with --pprof); empty for none")
	f.Pprof(&c.Pprof)
	f.Logging(&c.Log)
	f.Tracing(&c.OTLPEndpoint)
}

// Validate checks the consumer settings after parsing.
func (c *ConsumerFlags) Validate() error {
	c.Consumer.Backoff = c.Backoff
	switch {
	case consume.ValidateName(c.Consumer.Durable) != nil:
		return fmt.Errorf("%w: --durable: %w", ErrUsage, consume.ValidateName(c.Consumer.Durable))
	case c.Consumer.MaxDeliver < 1 || c.Consumer.MaxInFlight < 1 || c.Consumer.AckWait <= 0:
		return fmt.Errorf("%w: --max-deliver, --max-in-flight and --ack-wait must be positive", ErrUsage)
	case c.Deliver != "all" && c.Deliver != "new":
		return fmt.Errorf("%w: --deliver %q: want all or new", ErrUsage, c.Deliver)
	}
	c.Consumer.DeliverAll = c.Deliver == "all"
	if err := c.Consumer.Subjects.Validate(); err != nil {
		return fmt.Errorf("%w: --subject-prefix: %w", ErrUsage, err)
	}
	return nil
}

func (c *ConsumerFlags) adminOptions() []admin.Option {
	if c.Pprof {
		return []admin.Option{admin.WithPprof()}
	}
	return nil
}

// openTimeout bounds opening the durable after a prepare.
const openTimeout = 5 * time.Second

// RunConsumer connects, opens the durable consumer (waiting for the broker
// and the stream if need be), and runs handler over it until ctx is done;
// with Redrive it re-drives the dead letters once and returns. prepare, when
// not nil, runs against the stream first and may change the consumer's
// configuration (a replay says where the durable starts); it runs under ctx, not a
// single attempt's time limit, since it may read the whole stream, and is
// tried again, like opening the consumer, until it succeeds.
func RunConsumer(ctx context.Context, c ConsumerFlags, handler consume.Handler, logger *zap.Logger, tp trace.TracerProvider,
	prepare func(context.Context, jetstream.JetStream, *consume.Config) error, opts ...consume.Option) error {
	nc, err := broker.Connect(c.NATS, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := broker.Drain(nc, 10*time.Second); err != nil {
			logger.Warn("nats drain", zap.Error(err))
		}
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	var opened atomic.Pointer[consume.Consumer]
	reg := admin.NewRegistry()
	metrics := consume.NewMetrics(reg)
	if c.AdminListen != "" {
		actx, cancel := context.WithCancel(ctx)
		stopped, err := admin.Serve(actx, c.AdminListen, admin.NewServer(func(ctx context.Context) error {
			cons := opened.Load()
			switch {
			case cons == nil:
				return errors.New("consumer not open yet")
			case !nc.IsConnected():
				return broker.ErrNotConnected
			}
			_, err := cons.Pending(ctx)
			return err
		}, reg, c.adminOptions()...), logger)
		if err != nil {
			cancel()
			return fmt.Errorf("%w: %w", ErrUsage, err)
		}
		defer func() { cancel(); <-stopped }()
	}
	var cons *consume.Consumer
	runCtx := ctx
	err = broker.Await(ctx, logger, "the stream and the consumer", func(ctx context.Context) error {
		if prepare != nil {
			if err := prepare(runCtx, js, &c.Consumer); err != nil {
				return err
			}
			prepare = nil
			// The attempt's time may have gone on a long prepare.
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(runCtx, openTimeout)
			defer cancel()
		}
		open := consume.New
		if c.Redrive {
			open = consume.Redrive
		}
		cons, err = open(ctx, js, c.Consumer, handler, logger, append([]consume.Option{consume.WithMetrics(metrics), consume.WithTracer(tp.Tracer("storylane-bridge/consume"))}, opts...)...)
		return err
	})
	if broker.Interrupted(ctx, err) {
		// Stopped while waiting for the broker, or during a replay: the
		// next start goes on from where the durable and the archive are.
		logger.Info("stopped before consuming", zap.String("durable", c.Consumer.Durable), zap.Error(err))
		return nil
	}
	if err != nil {
		return err
	}
	opened.Store(cons)
	reg.MustRegister(cons.Collector())
	logger.Info("consuming", zap.String("stream", c.Consumer.Stream), zap.String("durable", c.Consumer.Durable),
		zap.Strings("subjects", c.Consumer.FilterSubjects), zap.Bool("redrive", c.Redrive))
	err = cons.Run(ctx)
	logger.Info("stopped", zap.String("durable", c.Consumer.Durable))
	return err
}
