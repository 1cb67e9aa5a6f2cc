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
}

// NewPublisher returns a publisher for the named stream. Give js an async
// ack timeout (jetstream.WithPublishAsyncTimeout) and a bound on pending
// acks (WithPublishAsyncMaxPending): a caller that gives up on an ack
// leaves it pending until it comes, the timeout passes or the connection
// changes state, and without a timeout lost acks pile up to the bound.
func NewPublisher(js jetstream.JetStream, stream string) *Publisher {
	return &Publisher{js: js, stream: stream}
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
	f, err := p.js.PublishMsgAsync(msg)
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
// answers, and when replicated it has a leader.
func (p *Publisher) Ready(ctx context.Context) error {
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
