package consume

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Pacing of the attempts after a fetch failed: quick at first, so that a
// durable deleted under a running consumer (whose re-creation the server
// may refuse for a moment while it finishes the delete) is back within a
// fraction of a second; slower later, so that a long outage neither spins
// nor floods the broker with requests.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 2 * time.Second
	// retryLogEvery bounds the log lines of a failure that lasts: its
	// first attempt is logged, then at most one line this often.
	retryLogEvery = 30 * time.Second
	// lookupTimeout bounds one look-up or creation of the durable, so a
	// JetStream that does not answer is retried like any outage.
	lookupTimeout = 5 * time.Second
)

// retrier paces and logs the attempts of one Run while fetches fail.
type retrier struct {
	delay   time.Duration // the last pause; zero while fetches work
	failing bool
	// Each kind of failure (its message) is logged at a bounded rate of
	// its own.
	logs ratedLog
}

// failed logs a failure, at a bounded rate, and waits before the next
// attempt: 100 ms, doubling to 2 s.
func (r *retrier) failed(ctx context.Context, logger *zap.Logger, level zapcore.Level, msg string, fields ...zap.Field) {
	r.delay = min(max(2*r.delay, retryFirst), retryMax)
	r.logs.every = retryLogEvery
	if unlogged, ok := r.logs.allow(msg); ok {
		logger.Log(level, msg, append(fields, zap.Int("failures_not_logged", unlogged), zap.Duration("retry_in", r.delay))...)
	}
	r.failing = true
	t := time.NewTimer(r.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// succeeded ends a run of failures: the next starts with a short pause and
// is logged at once.
func (r *retrier) succeeded(logger *zap.Logger) {
	if r.failing {
		logger.Info("fetching again")
	}
	*r = retrier{}
}

// mayBeGone reports whether a fetch error may mean that the durable no
// longer exists. A pull request pending when it is deleted ends with 409
// "Consumer Deleted"; one sent after it is gone has no one to answer it,
// so it ends with status 503, "no responders", which also is what a
// consumer without a leader gives in a cluster: a look-up tells them apart.
func mayBeGone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, nats.ErrNoResponders)
}

// fetchFailed handles a failed fetch. A durable that is gone is created
// again at once; anything else, including a re-creation that failed, is
// retried with back-off until it works or ctx ends.
func (c *Consumer) fetchFailed(ctx context.Context, err error, r *retrier) {
	if ctx.Err() != nil {
		return
	}
	if !mayBeGone(err) {
		r.failed(ctx, c.logger, zapcore.WarnLevel, "fetch failed; retrying", zap.Error(err))
		return
	}
	switch recreated, herr := c.heal(ctx); {
	case recreated || ctx.Err() != nil:
	case herr == nil: // the durable is there: an outage after all
		r.failed(ctx, c.logger, zapcore.WarnLevel, "fetch failed; retrying", zap.Error(err))
	case errors.Is(herr, jetstream.ErrStreamNotFound):
		r.failed(ctx, c.logger, zapcore.ErrorLevel, "the stream is gone; waiting for it to be created again",
			zap.Error(herr), zap.String("stream", c.cfg.Stream))
	default:
		r.failed(ctx, c.logger, zapcore.ErrorLevel, "the durable consumer may be gone and could not be created again; retrying",
			zap.Error(herr), zap.NamedError("fetch_error", err))
	}
}

// heal makes sure the durable exists after a fetch error that may mean it
// was deleted, and creates it again when it does not. Its position is lost
// with it, so it starts where its configuration says; events stored
// meanwhile may need a replay. Nothing is created while the stream is
// missing: that error is returned, to be retried.
func (c *Consumer) heal(ctx context.Context) (recreated bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	cons, err := c.js.Consumer(ctx, c.cfg.Stream, c.cfg.Durable)
	if err == nil {
		c.setConsumer(cons)
		return false, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return false, fmt.Errorf("look up durable %s: %w", c.cfg.Durable, err)
	}
	cons, err = createOrUpdate(ctx, c.js, c.cfg)
	if err != nil {
		return false, fmt.Errorf("create durable %s again: %w", c.cfg.Durable, err)
	}
	c.setConsumer(cons)
	c.logger.Error("the durable consumer was deleted by someone and is created again; events stored while it was gone are skipped unless it delivers all",
		zap.Bool("deliver_all", c.cfg.DeliverAll))
	return true, nil
}
