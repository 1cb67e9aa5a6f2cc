package cloudevent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	natsce "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// HeaderPrefix starts the name of every attribute header in binary mode.
const HeaderPrefix = "ce-"

// structuredContentType marks a structured-mode message; binary mode never
// sends it.
const structuredContentType = "application/cloudevents"

// ErrBadHeader reports a ce- header whose value is not a valid encoding.
var ErrBadHeader = errors.New("bad cloudevents header")

// ToMsg encodes e as a NATS message on subject in binary content mode: each
// attribute, datacontenttype included, is a percent-encoded ce- header, the
// data is the payload, and Nats-Msg-Id is the event id so that JetStream
// drops a re-delivery inside its duplicate window.
func ToMsg(subject string, e event.Event) (*nats.Msg, error) {
	h, err := Header(e)
	if err != nil {
		return nil, err
	}
	h.Set(jetstream.MsgIDHeader, e.ID())
	return &nats.Msg{Subject: subject, Header: h, Data: e.Data()}, nil
}

// Header returns the binary-mode headers of e's attributes and extensions.
func Header(e event.Event) (nats.Header, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID(), err)
	}
	c := e.Context.AsV1()
	h := nats.Header{}
	set := func(name, value string) { h.Set(HeaderPrefix+name, EncodeValue(value)) }
	set("specversion", c.GetSpecVersion())
	set("id", c.ID)
	set("source", c.Source.String())
	set("type", c.Type)
	if c.Subject != nil {
		set("subject", *c.Subject)
	}
	if c.Time != nil {
		set("time", c.Time.String())
	}
	if c.DataContentType != nil {
		set("datacontenttype", *c.DataContentType)
	}
	if c.DataSchema != nil {
		set("dataschema", c.DataSchema.String())
	}
	for _, name := range slices.Sorted(maps.Keys(c.Extensions)) {
		v, err := types.Format(c.Extensions[name])
		if err != nil {
			return nil, fmt.Errorf("encode extension %s: %w", name, err)
		}
		set(name, v)
	}
	return h, nil
}

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
