package broker

import (
	"context"
	"errors"
	"fmt"

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

// NewPublisher returns a publisher for the named stream.
func NewPublisher(js jetstream.JetStream, stream string) *Publisher {
	return &Publisher{js: js, stream: stream}
}

// Publish sends msg and waits, until ctx is done, for JetStream to say it is
// stored. A message whose Nats-Msg-Id was already stored inside the duplicate
// window is acknowledged with Duplicate set: that is a success.
func (p *Publisher) Publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	ack, err := p.js.PublishMsg(ctx, msg)
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

// Ready reports whether the connection is up and the stream answers.
func (p *Publisher) Ready(ctx context.Context) error {
	if !p.js.Conn().IsConnected() {
		return ErrNotConnected
	}
	if _, err := p.js.Stream(ctx, p.stream); err != nil {
		return fmt.Errorf("stream %s: %w", p.stream, err)
	}
	return nil
}

// Stream is the name of the stream messages go to.
func (p *Publisher) Stream() string { return p.stream }
