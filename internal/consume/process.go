package consume

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
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
)

// openTimeout bounds opening the durable after a prepare.
const openTimeout = 5 * time.Second

// RunProcess is a consumer binary once configured: it connects, opens the
// durable consumer (waiting for the broker and the stream if need be), and
// runs handler over it until ctx is done; with Redrive it re-drives the dead
// letters once and returns. prepare, when not nil, runs against the stream
// first and may change the consumer's configuration (a replay says where
// the durable starts); it runs under ctx, not a single attempt's time
// limit, since it may read the whole stream, and is tried again, like
// opening the consumer, until it succeeds.
func RunProcess(ctx context.Context, c ProcessConfig, handler Handler, logger *zap.Logger, tp trace.TracerProvider,
	prepare func(context.Context, jetstream.JetStream, *Config) error, opts ...Option) error {
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
	var opened atomic.Pointer[Consumer]
	reg := admin.NewRegistry()
	metrics := NewMetrics(reg)
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
			return fmt.Errorf("%w: %w", cli.ErrUsage, err)
		}
		defer func() { cancel(); <-stopped }()
	}
	var cons *Consumer
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
		open := New
		if c.Redrive {
			open = Redrive
		}
		cons, err = open(ctx, js, c.Consumer, handler, logger, append([]Option{WithMetrics(metrics), WithTracer(tp.Tracer("storylane-bridge/consume"))}, opts...)...)
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
