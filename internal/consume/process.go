package consume

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/admin"
	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// RunProcess is a consumer binary once configured: it connects, opens the
// durable consumer (waiting for the broker and the stream if need be), and
// runs handler over it until ctx is done; with Redrive it re-drives the dead
// letters once and returns. A replay (WithReplay) runs under ctx, not a
// single attempt's time limit, since it may read the whole stream, and is
// tried again, like opening the consumer, until it succeeds.
func RunProcess(ctx context.Context, c ProcessConfig, handler Handler, logger *zap.Logger, tp trace.TracerProvider, opts ...Option) error {
	js, closeConn, err := broker.ConnectJetStream(c.NATS, logger)
	if err != nil {
		return err
	}
	defer closeConn()
	nc := js.Conn()
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
			// As every listener of every binary: a taken port is the
			// machine's state, not a usage mistake (exit 1, not 2).
			return fmt.Errorf("--admin-listen: %w", err)
		}
		defer func() { cancel(); <-stopped }()
	}
	opts = append([]Option{WithMetrics(metrics), WithTracer(tp.Tracer("storylane-bridge/consume"))}, opts...)
	replay := newOptions(opts).replay
	var cons *Consumer
	err = broker.Await(ctx, logger, "the stream and the consumer", func(attempt context.Context) error {
		if replay.pending() {
			attempt = ctx // the replay may read the whole stream
		}
		open := New
		if c.Redrive {
			open = Redrive
		}
		cons, err = open(attempt, js, c.Consumer, handler, logger, opts...)
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
