package broker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/usage"
)

func TestAwaitRetriesUntilItSucceeds(t *testing.T) {
	t.Parallel()
	attempts := 0
	err := broker.Await(t.Context(), zap.NewNop(), "the stream", func(context.Context) error {
		if attempts++; attempts < 3 {
			return errors.New("no servers available")
		}
		return nil
	})
	if err != nil || attempts != 3 {
		t.Errorf("Await(fails twice) = %v after %d attempts, want nil after 3", err, attempts)
	}
}

func TestAwaitEndsAtOnceOnAPermanentError(t *testing.T) {
	t.Parallel()
	attempts := 0
	err := broker.Await(t.Context(), zap.NewNop(), "the stream", func(context.Context) error {
		attempts++
		return fmt.Errorf("create: %w", broker.ErrConfig)
	})
	if !errors.Is(err, usage.Err) || attempts != 1 {
		t.Errorf("Await(permanent error) = %v after %d attempts, want a usage error after 1", err, attempts)
	}
}

// TestAwaitStoppedSaysWhy: stopped while it waits, between attempts or in
// one, Await's error is the cancellation (an interruption, not a failure)
// and names what the last attempt ran into.
func TestAwaitStoppedSaysWhy(t *testing.T) {
	t.Parallel()
	for _, during := range []string{"backoff", "attempt"} {
		t.Run(during, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			err := broker.Await(ctx, zap.NewNop(), "the stream", func(context.Context) error {
				if during == "attempt" {
					cancel()
				} else {
					time.AfterFunc(50*time.Millisecond, cancel)
				}
				return errors.New("no servers available")
			})
			if !broker.Interrupted(ctx, err) || !strings.Contains(err.Error(), "no servers available") {
				t.Errorf("Await(stopped during the %s) = %v, want the cancellation and the last attempt's error", during, err)
			}
		})
	}
}

func TestInterrupted(t *testing.T) {
	t.Parallel()
	stopped, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancelExpired := context.WithDeadline(t.Context(), time.Now())
	defer cancelExpired()
	waiting := fmt.Errorf("waiting for the stream: %w", errors.Join(context.Canceled, errors.New("connection refused")))
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"stopped while waiting", stopped, waiting, true},
		{"a failure that came with the signal", stopped, errors.New("stream config mismatch"), false},
		{"stopped after success", stopped, nil, false},
		{"a usage error while stopping", stopped, fmt.Errorf("%w: deliver policy: %w", usage.Err, context.Canceled), false},
		{"a deadline, not a stop", expired, fmt.Errorf("waiting: %w", context.DeadlineExceeded), false},
		{"not stopped", t.Context(), waiting, false},
	}
	for _, tt := range tests {
		if got := broker.Interrupted(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: Interrupted(ctx, %v) = %t, want %t", tt.name, tt.err, got, tt.want)
		}
	}
}
