package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
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
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}
