package cloudevent

import (
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Header names as Header writes them (nats.Header.Set keeps a key as
// given), so a message built here is the one ToMsg builds, key for key.
const (
	keySpecVersion     = HeaderPrefix + "specversion"
	keyID              = HeaderPrefix + "id"
	keySource          = HeaderPrefix + "source"
	keyType            = HeaderPrefix + "type"
	keySubject         = HeaderPrefix + "subject"
	keyTime            = HeaderPrefix + "time"
	keyDataContentType = HeaderPrefix + "datacontenttype"
	keyDataSchema      = HeaderPrefix + "dataschema"
)

// Encoder writes the binary-mode NATS message of a session's event straight
// from the session, without an SDK event in between: the bridge does this
// for every webhook, and the SDK's event costs a dozen allocations more.
// What it writes is exactly ToMsg(subject, FromSession(...)); tests hold it
// to that.
type Encoder struct {
	source, dataSchema string // encoded header values, the same for every event
	err                error  // an origin the SDK refuses
}

// NewEncoder returns an encoder of events from o. An origin the SDK would
// refuse makes every Msg fail with the SDK's reason.
func NewEncoder(o Origin) *Encoder {
	// The SDK normalises the source and dataschema URIs; taking them
	// from an event it built keeps its exact spelling.
	e, err := FromSession(storylane.Session{ID: "x"}, []byte("{}"), time.Unix(0, 0), o)
	if err != nil {
		return &Encoder{err: err}
	}
	h, err := Header(e)
	if err != nil {
		return &Encoder{err: err}
	}
	return &Encoder{source: h.Get(keySource), dataSchema: h.Get(keyDataSchema)}
}

// Msg returns the message on subject of the session summarized by s; raw is
// the webhook body, carried byte for byte, and received the time it came.
func (enc *Encoder) Msg(subject string, s storylane.Summary, raw []byte, received time.Time) (*nats.Msg, error) {
	if enc.err != nil {
		return nil, enc.err
	}
	t := eventTime(s, received)
	id := ID(raw)
	// One backing array for every value: a header is built per webhook.
	typ := TypeUnknown
	if s.Known {
		typ = TypeKnown
	}
	vals := [...]string{event.CloudEventsVersionV1, id, enc.source, typ, t.UTC().Format(time.RFC3339Nano),
		event.ApplicationJSON, enc.dataSchema, id, ""}
	v := vals[:]
	one := func(i int) []string { return v[i : i+1 : i+1] }
	h := nats.Header{keySpecVersion: one(0), keyID: one(1), keySource: one(2), keyType: one(3), keyTime: one(4),
		keyDataContentType: one(5), jetstream.MsgIDHeader: one(7)}
	if enc.dataSchema != "" {
		h[keyDataSchema] = one(6)
	}
	// The SDK trims the subject and leaves out one that is then empty.
	if sub := strings.TrimSpace(s.ID); sub != "" {
		v[8] = EncodeValue(sub)
		h[keySubject] = one(8)
	}
	return &nats.Msg{Subject: subject, Header: h, Data: raw}, nil
}
