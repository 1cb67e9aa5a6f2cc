package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// StreamKeeper keeps the stream a Publisher stores into in place. When a
// publish finds no stream to take its subject, or readiness finds the
// stream gone (someone deleted it), it re-creates the stream with
// EnsureStream, retrying with back-off; the publish waits for that within
// its own deadline and is sent again. Where the server will not let it
// create the stream, it reports itself unhealthy: only a person, or a
// restart that makes the refusal loud, can help.
//
// It stands in for the Publisher: Publish, Ready and Healthy are what the
// HTTP side asks. Run does the work and must be running.
type StreamKeeper struct {
	pub    *Publisher
	js     jetstream.JetStream
	cfg    StreamConfig
	logger *zap.Logger
	wake   chan struct{}
	logs   *rate.Limiter

	mu       sync.Mutex
	healed   chan struct{} // closed when the stream is back; nil while nothing is wrong
	refusal  error         // why the server will not let us re-create the stream
	unlogged int           // failures not logged since the last line
}

// Keeper timings. An attempt is one look-up and at most one create or
// update; a create the server's permissions forbid is never answered, so
// the attempt's timeout is also how long it takes to notice that.
const (
	keeperAttemptTimeout = 5 * time.Second
	keeperMinBackoff     = 250 * time.Millisecond
	keeperMaxBackoff     = 15 * time.Second
	keeperLogEvery       = 10 * time.Second
)

// NewStreamKeeper returns a keeper of cfg's stream, publishing with pub over
// js.
func NewStreamKeeper(pub *Publisher, js jetstream.JetStream, cfg StreamConfig, logger *zap.Logger) *StreamKeeper {
	return &StreamKeeper{pub: pub, js: js, cfg: cfg, logger: logger, wake: make(chan struct{}, 1),
		logs: rate.NewLimiter(rate.Every(keeperLogEvery), 1)}
}

// Publish publishes msg. When no stream takes it, nothing was stored: it
// waits for the stream to be re-created and publishes again, until ctx is
// done.
func (k *StreamKeeper) Publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		ack, err := k.pub.Publish(ctx, msg)
		if !noStream(err) {
			return ack, err
		}
		healed := k.trouble()
		// Healing may find the stream in place (a cluster electing its
		// leader also answers "no responders"): wait a little even then.
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, err
		case <-healed:
			<-timer.C
		case <-timer.C:
		}
	}
}

// Ready is the publisher's readiness, and in edge mode the edge's (see
// edgeReady); a stream or HUB consumer found missing is re-created.
func (k *StreamKeeper) Ready(ctx context.Context) error {
	err := k.pub.Ready(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		k.trouble()
	}
	if err == nil && k.cfg.Edge != nil {
		err = k.edgeReady(ctx)
	}
	return err
}

// Healthy reports an error while the stream is missing and the server
// refuses to let this process re-create it.
func (k *StreamKeeper) Healthy(context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refusal
}

// noStream reports a publish that no stream took: nothing was stored.
func noStream(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// trouble asks Run to heal the stream and returns a channel closed once
// it is in place.
func (k *StreamKeeper) trouble() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.healed == nil {
		k.healed = make(chan struct{})
		select {
		case k.wake <- struct{}{}:
		default:
		}
	}
	return k.healed
}

// Run heals the stream whenever Publish or Ready find it missing, until ctx
// is done.
func (k *StreamKeeper) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.wake:
			k.heal(ctx)
		}
	}
}

func (k *StreamKeeper) heal(ctx context.Context) {
	for wait := keeperMinBackoff; ; wait = min(2*wait, keeperMaxBackoff) {
		created, err := k.attempt(ctx)
		if err == nil {
			k.healedNow(created)
			return
		}
		if ctx.Err() != nil || k.js.Conn().IsClosed() || k.js.Conn().IsDraining() {
			return // shutting down
		}
		k.failed(err, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Ensure makes sure the stream is there, as EnsureStream does, for a
// start-up. A request the server will not carry out for this user fails
// with ErrRefused, which IsPermanent reports.
func (k *StreamKeeper) Ensure(ctx context.Context) (*jetstream.StreamInfo, error) {
	info, _, err := k.ensure(ctx)
	return info, err
}

func (k *StreamKeeper) ensure(ctx context.Context) (*jetstream.StreamInfo, bool, error) {
	info, created, err := ensureStream(ctx, k.js, k.cfg)
	if err == nil && k.cfg.Edge != nil {
		err = ensureHubConsumer(ctx, k.js, k.cfg)
	}
	if refusal := k.refusalOf(err); refusal != nil {
		return nil, false, refusal
	}
	return info, created, err
}

// attempt is one try of heal's, bounded in time.
func (k *StreamKeeper) attempt(ctx context.Context) (created bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, keeperAttemptTimeout)
	defer cancel()
	_, created, err = k.ensure(ctx)
	return created, err
}

func (k *StreamKeeper) healedNow(created bool) {
	k.mu.Lock()
	if k.healed != nil {
		close(k.healed)
		k.healed = nil
	}
	k.refusal = nil
	unlogged := k.unlogged
	k.unlogged = 0
	k.mu.Unlock()
	if created {
		k.logger.Warn("stream was missing: re-created it", zap.String("stream", k.cfg.Name),
			zap.Strings("subjects", []string{k.cfg.Subjects.All()}), zap.Int("failed_attempts_not_logged", unlogged))
	}
}

// failed records a failed attempt, as a refusal when waiting will not
// help, and logs it at a bounded rate.
func (k *StreamKeeper) failed(err error, retryIn time.Duration) {
	refused := IsPermanent(err)
	k.mu.Lock()
	if refused {
		k.refusal = fmt.Errorf("stream %s takes no events and the bridge may not re-create it: %w", k.cfg.Name, err)
	}
	if !k.logs.Allow() {
		k.unlogged++
		k.mu.Unlock()
		return
	}
	unlogged := k.unlogged
	k.unlogged = 0
	k.mu.Unlock()
	msg := "stream not taking events, and making sure it exists failed; retrying"
	if refused {
		msg = "stream not taking events, and the server refuses to let the bridge create or update it: reporting unhealthy; create the stream, or let the bridge's user do so"
	}
	k.logger.Error(msg, zap.String("stream", k.cfg.Name), zap.Error(err), zap.Duration("retry_in", retryIn),
		zap.Int("failed_attempts_not_logged", unlogged))
}

// refusalOf returns, for an attempt that failed with err, why waiting will
// not make it succeed, or nil when it may: the server refused the request
// for its content, or for this user's permissions. A request the user may
// not publish is not answered, only reported on the connection, so the
// attempt itself just times out.
func (k *StreamKeeper) refusalOf(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamNameInUse {
		return nil // created meanwhile by someone else: the next look-up finds it
	}
	if IsPermanent(err) {
		return err
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
		return nil
	}
	last := k.js.Conn().LastError()
	if errors.Is(last, nats.ErrPermissionViolation) && strings.Contains(last.Error(), `"$JS.API.STREAM.`) &&
		strings.Contains(last.Error(), "."+k.cfg.Name+`"`) {
		return fmt.Errorf("%w: %w (%w)", ErrRefused, last, err)
	}
	return nil
}
