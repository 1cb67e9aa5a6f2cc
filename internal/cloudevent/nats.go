package cloudevent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	natsce "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
)

// HeaderPrefix starts the name of every attribute header in binary mode.
const HeaderPrefix = "ce-"

// structuredContentType marks a structured-mode message; binary mode never
// sends it.
const structuredContentType = "application/cloudevents"

// ErrBadHeader reports a ce- header whose value is not a valid encoding.
var ErrBadHeader = errors.New("bad cloudevents header")

// FromMsg decodes a NATS message into a CloudEvent. Binary-mode header values
// are percent-decoded as the binding requires (the SDK's reader does not),
// then the CloudEvents SDK's own NATS reader builds and validates the event.
// A message whose Content-Type is application/cloudevents is read in
// structured mode.
func FromMsg(msg *nats.Msg) (event.Event, error) {
	decoded := &nats.Msg{Subject: msg.Subject, Data: msg.Data, Header: nats.Header{}}
	structured := strings.HasPrefix(strings.ToLower(headerValue(msg.Header, "content-type")), structuredContentType)
	for k, vs := range msg.Header {
		if len(vs) == 0 {
			continue
		}
		if !strings.HasPrefix(strings.ToLower(k), HeaderPrefix) {
			decoded.Header[k] = vs
			continue
		}
		if structured {
			continue // attributes travel in the payload
		}
		v, err := DecodeValue(vs[0])
		if err != nil {
			return event.Event{}, fmt.Errorf("%w: %s: %w", ErrBadHeader, k, err)
		}
		decoded.Header.Set(strings.ToLower(k), v)
	}
	e, err := binding.ToEvent(context.Background(), natsce.NewMessage(decoded))
	if err != nil {
		return event.Event{}, fmt.Errorf("decode event on %s: %w", msg.Subject, err)
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("decode event on %s: %w", msg.Subject, err)
	}
	return *e, nil
}

// headerValue looks a header up whatever the case of its name, since NATS
// header names are case-insensitive but nats.Header keys are not.
func headerValue(h nats.Header, name string) string {
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}
