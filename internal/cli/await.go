package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/tracing"
)

// Await calls fn until it succeeds or ctx is done, backing off from half a
// second to ten and logging each failure: a service started before its
// broker waits for it instead of exiting. An error waiting cannot cure (a
// request the server refuses as invalid) ends it at once, as a usage error.
func Await(ctx context.Context, logger *zap.Logger, what string, fn func(context.Context) error) error {
	wait := 500 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(attempt)
		cancel()
		if err == nil {
			return nil
		}
		if broker.IsPermanent(err) {
			return fmt.Errorf("%w: %s: %w", ErrUsage, what, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s: %w", what, errors.Join(ctx.Err(), err))
		}
		logger.Warn("waiting for "+what, zap.Error(err), zap.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			// The last attempt's error says why it was still waiting.
			return fmt.Errorf("waiting for %s: %w", what, errors.Join(ctx.Err(), err))
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// Interrupted reports whether err ended a wait, or the work before a
// command's main loop, because ctx was cancelled: a signal cancels a
// command's context, and a command asked to stop before it began its work
// has not failed. Only an error that is the cancellation counts (as
// Await's are when ctx is done): a usage error, a deadline, or a failure
// that happened to come with the signal is still an error.
func Interrupted(ctx context.Context, err error) bool {
	return errors.Is(ctx.Err(), context.Canceled) && errors.Is(err, context.Canceled) && !errors.Is(err, ErrUsage)
}

// StartTracing sets up tracing for a command and returns its provider and a
// function that flushes it, with a fresh timeout, at exit.
func StartTracing(ctx context.Context, endpoint, service string, logger *zap.Logger) (trace.TracerProvider, func(), error) {
	tp, shutdown, err := tracing.Setup(ctx, endpoint, service)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --otlp-endpoint: %w", ErrUsage, err)
	}
	if endpoint != "" {
		logger.Info("tracing", zap.String("otlp_endpoint", endpoint))
	}
	return tp, func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(fctx); err != nil {
			logger.Warn("flushing traces", zap.Error(err))
		}
	}, nil
}
