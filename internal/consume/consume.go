// Package consume is the runtime of the bridge's downstream consumers: a
// durable JetStream pull consumer whose messages are decoded back into
// CloudEvents and Storylane sessions and handed to a handler, whose outcome
// decides each message's fate: success is acknowledged, a retryable failure
// is redelivered after a back-off, and a permanent failure or exhausted
// retries go to the consumer's dead-letter subject and are then terminated.
// Nothing is dropped silently. WithReplay rebuilds a handler's store from
// the stream first, and RunProcess is the whole process of a consumer
// binary (its flags, the admin listener, the wait for the broker).
package consume

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Event is one message of the stream, decoded.
type Event struct {
	CloudEvent event.Event
	Session    storylane.Session
	// Attempt counts deliveries of this message, 1 the first time.
	Attempt uint64
	// StreamSeq is the message's sequence in the stream.
	StreamSeq uint64
	// Stored is when the stream stored the message: for the bridge's
	// events, within moments of the webhook's receipt.
	Stored time.Time
	// Subject is the subject the message was stored on.
	Subject string
	// Header and Data are the message as stored: for the bridge's events,
	// binary-mode CloudEvent headers and the webhook's body.
	Header nats.Header
	Data   []byte
}

// ID is the event's id: the CloudEvent's, or for an event handed over as
// stored, its ce-id header's.
func (e Event) ID() string {
	if e.CloudEvent.Context != nil {
		return e.CloudEvent.ID()
	}
	id, _ := cloudevent.DecodeValue(e.Header.Get(cloudevent.HeaderPrefix + "id"))
	return id
}

// Handler processes one event. It returns nil when done, an error wrapping
// ErrPermanent when retrying cannot help, and any other error to be retried.
// It may be called again for an event it already handled (a redelivery after
// a crash), so it must be idempotent; Event.CloudEvent.ID() is the key.
type Handler func(ctx context.Context, e Event) error

// ErrPermanent marks a failure that retrying will not fix.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so the runtime dead-letters the message at once.
func Permanent(err error) error {
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// RetryAfterError asks for a redelivery after at least Delay, as a target's
// Retry-After does.
type RetryAfterError struct {
	Err   error
	Delay time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err with the delay the failing party asked for.
func RetryAfter(err error, delay time.Duration) error {
	return &RetryAfterError{Err: err, Delay: delay}
}

// Decode turns a stream message into an Event: the CloudEvent through the
// SDK's NATS reader, then the session from the event's data.
func Decode(msg jetstream.Msg) (Event, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return Event{}, fmt.Errorf("message metadata: %w", err)
	}
	var p storylane.Parser
	return decodeMsg(&p, msg, meta)
}

// DecodeStored is Decode for a message read from the stream by sequence,
// without a consumer: an edge's WorkQueue stream takes none besides the
// hub's.
func DecodeStored(m *jetstream.RawStreamMsg) (Event, error) {
	var p storylane.Parser
	e, err := decode(&p, m.Subject, m.Header, m.Data)
	if err != nil {
		return Event{}, err
	}
	e.StreamSeq, e.Stored = m.Sequence, m.Time
	return e, nil
}

// stored is the Event of msg as stored, undecoded (AsStored).
func stored(msg jetstream.Msg, meta *jetstream.MsgMetadata) Event {
	return Event{Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data(),
		Attempt: meta.NumDelivered, StreamSeq: meta.Sequence.Stream, Stored: meta.Timestamp}
}

// decodeMsg is Decode with the metadata read and a parser at hand.
func decodeMsg(p *storylane.Parser, msg jetstream.Msg, meta *jetstream.MsgMetadata) (Event, error) {
	e, err := decode(p, msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		return Event{}, err
	}
	e.Attempt, e.StreamSeq, e.Stored = meta.NumDelivered, meta.Sequence.Stream, meta.Timestamp
	return e, nil
}

func decode(p *storylane.Parser, subject string, h nats.Header, data []byte) (Event, error) {
	ce, err := cloudevent.FromMsg(&nats.Msg{Subject: subject, Header: h, Data: data})
	if err != nil {
		return Event{}, err
	}
	s, err := p.Parse(ce.Data())
	if err != nil {
		return Event{}, fmt.Errorf("event %s: %w", ce.ID(), err)
	}
	return Event{CloudEvent: ce, Session: s, Subject: subject, Header: h, Data: data}, nil
}
