package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrTooLarge reports a message bigger than the broker accepts; sending it
// again will not help.
var ErrTooLarge = errors.New("message exceeds the broker's maximum payload")

// ErrNotConnected reports a connection that is not up right now.
var ErrNotConnected = errors.New("not connected to nats")

// Publisher stores messages in one stream and reports JetStream's
// acknowledgement.
type Publisher struct {
	js     jetstream.JetStream
	stream string

	// Slots of the calls into the connection that may block on it: one
	// per publish being handed over, one for a readiness check.
	handing  chan struct{}
	checking chan struct{}
}

// maxHandOffs bounds the publishes being handed to the connection at once.
// A hand-off takes microseconds, unless the connection is wedged: its lock
// held by a write blocked on a socket that does not drain, until the write
// timeout (nats.FlusherTimeout) ends it. Publish stops waiting when its ctx
// is done, but the hand-off goes on and keeps the message; the bound keeps
// what is left behind to this many goroutines and bodies, instead of one
// per webhook for as long as the connection stays wedged. Hand-offs take
// the connection's lock one at a time anyway, so the bound does not slow
// publishing (no difference measured with 64 publishers at tens of thousands a second).
const maxHandOffs = 64

// NewPublisher returns a publisher for the named stream. Give js an async
// ack timeout (jetstream.WithPublishAsyncTimeout) and a bound on pending
// acks (WithPublishAsyncMaxPending): a caller that gives up on an ack
// leaves it pending until it comes, the timeout passes or the connection
// changes state, and without a timeout lost acks pile up to the bound.
func NewPublisher(js jetstream.JetStream, stream string) *Publisher {
	return &Publisher{js: js, stream: stream, handing: make(chan struct{}, maxHandOffs), checking: make(chan struct{}, 1)}
}

// Publish sends msg and waits, until ctx is done, for JetStream to say it is
// stored. A message whose Nats-Msg-Id was already stored inside the duplicate
// window is acknowledged with Duplicate set: that is a success.
//
// It publishes asynchronously: concurrent callers share the connection's
// writes and one reply subscription instead of a request each, and the
// acknowledgements outstanding are bounded by the JetStream context's
// WithPublishAsyncMaxPending (beyond it, Publish waits, then fails). Each
// caller still waits for its own message's ack.
//
// Publish returns soon after ctx is done, whatever the socket does: a
// connection wedged on a full socket cannot hold it. The message may still
// be sent after that, so the caller must not reuse msg or its Data; a
// retry under the same Nats-Msg-Id is stored once either way.
func (p *Publisher) Publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	ack, err := p.publish(ctx, msg)
	for wait := 20 * time.Millisecond; inProcess(err); wait = min(2*wait, 500*time.Millisecond) {
		// The same id is being stored right now (another bridge replica,
		// or a retry): the answer is coming; ask again until it does.
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("publish %s: %w", msg.Subject, errors.Join(ctx.Err(), err))
		case <-time.After(wait):
		}
		ack, err = p.publish(ctx, msg)
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return nil, fmt.Errorf("publish %s: %w", msg.Subject, ErrTooLarge)
	}
	if full(err) {
		return nil, fmt.Errorf("publish %s: %w: %w", msg.Subject, ErrStreamFull, err)
	}
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", msg.Subject, err)
	}
	if ack.Stream != p.stream {
		// Stored, but somewhere nobody looks: a subject overlap to fix.
		return nil, fmt.Errorf("publish %s: stored in stream %s, want %s", msg.Subject, ack.Stream, p.stream)
	}
	return ack, nil
}

func (p *Publisher) publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	f, err := p.handOff(ctx, msg)
	if err != nil {
		return nil, err
	}
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
		// The ack may still come; a retry of the webhook is then
		// stored once, under the same Nats-Msg-Id.
		return nil, ctx.Err()
	}
}

// ErrConnectionBusy reports a call that gave up waiting for the connection,
// whose lock a write blocked on the socket may hold until the write
// timeout.
var ErrConnectionBusy = errors.New("nats connection busy")

// handOff gives msg to the connection in a goroutine of its own, returning
// when that is done or ctx is, whichever comes first; see maxHandOffs.
func (p *Publisher) handOff(ctx context.Context, msg *nats.Msg) (jetstream.PubAckFuture, error) {
	select {
	case p.handing <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrConnectionBusy, ctx.Err())
	}
	type handed struct {
		f   jetstream.PubAckFuture
		err error
	}
	done := make(chan handed, 1)
	go func() {
		defer func() { <-p.handing }()
		f, err := p.js.PublishMsgAsync(msg)
		done <- handed{f, err}
	}()
	select {
	case h := <-done:
		return h.f, h.err
	case <-ctx.Done():
		// The ack, if the message goes out, is left to the JetStream
		// context's async timeout, as for a caller that stops waiting.
		return nil, fmt.Errorf("%w: %w", ErrConnectionBusy, ctx.Err())
	}
}

// ErrStreamFull reports a stream that refused a message for its limits: a
// full edge (its backlog budget used up while the hub is away) or a stream
// of --stream-max-bytes with discard new. Nothing was stored; it passes
// once the hub has taken some of the backlog.
var ErrStreamFull = errors.New("stream full")

// errCodeStoreFailed is JetStream's answer to a message the stream's
// limits keep out (nats-server's JSStreamStoreFailedF: maximum bytes or
// messages exceeded, with discard new).
const errCodeStoreFailed = 10077

func full(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeStoreFailed
}

// ErrNoLeader reports a replicated stream without a leader, which cannot
// store anything until its replicas regain quorum.
var ErrNoLeader = errors.New("stream has no leader")

// errCodeDuplicateInProcess is JetStream's answer to a message whose
// Nats-Msg-Id a clustered stream is storing at this moment.
const errCodeDuplicateInProcess = 10158

func inProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeDuplicateInProcess
}

// Ready reports whether the connection is up and the stream can store: it
// answers, and when replicated it has a leader. It returns when ctx is done
// even when the connection is wedged (every call into it waits on its
// lock); one check at a time waits on the connection, so that probes
// repeated while it stays wedged leave no goroutines behind.
func (p *Publisher) Ready(ctx context.Context) error {
	select {
	case p.checking <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: an earlier readiness check still waits: %w", ErrConnectionBusy, ctx.Err())
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-p.checking }()
		done <- p.ready(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrConnectionBusy, ctx.Err())
	}
}

func (p *Publisher) ready(ctx context.Context) error {
	if !p.js.Conn().IsConnected() {
		return ErrNotConnected
	}
	s, err := p.js.Stream(ctx, p.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", p.stream, err)
	}
	if c := s.CachedInfo().Cluster; c != nil && c.Leader == "" {
		return fmt.Errorf("stream %s: %w", p.stream, ErrNoLeader)
	}
	return nil
}

// Stream is the name of the stream messages go to.
func (p *Publisher) Stream() string { return p.stream }
