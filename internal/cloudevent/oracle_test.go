package cloudevent

import (
	"fmt"
	"maps"
	"slices"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The CloudEvents SDK's way to a message, the oracle the Encoder is held
// to byte for byte: the SDK builds and validates the event (FromSession),
// and each of its attributes is written as the binding says. It is test
// code: the bridge writes every header with the Encoder.

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
