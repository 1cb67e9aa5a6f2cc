package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/usage"
)

// Await calls fn until it succeeds or ctx is done, backing off from half a
// second to ten and logging each failure: a service started before its
// broker waits for it instead of exiting. An error waiting cannot cure (a
// request the server refuses as invalid) ends it at once, as a usage error
// (usage.Err).
func Await(ctx context.Context, logger *zap.Logger, what string, fn func(context.Context) error) error {
	wait := 500 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := fn(attempt)
		cancel()
		if err == nil {
			return nil
		}
		if IsPermanent(err) {
			return fmt.Errorf("%w: %s: %w", usage.Err, what, err)
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
	return errors.Is(ctx.Err(), context.Canceled) && errors.Is(err, context.Canceled) && !errors.Is(err, usage.Err)
}
