package cloudevent

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Header names as the SDK's binding writes them (nats.Header.Set keeps a key
// as given), so a message built here is the one the tests' SDK oracle
// (oracle_test.go) builds, key for key.
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
// from its summary: the one implementation of the event's headers. Tests
// hold it, byte for byte, to what the CloudEvents SDK writes for the same
// event (ToMsg(subject, FromSession(...)) in oracle_test.go).
type Encoder struct {
	source, dataSchema string // encoded header values, the same for every event
}

// NewEncoder returns an encoder of events from o, or why the CloudEvents
// SDK would refuse o: an empty source, a source that is not a
// URI-reference, or a dataschema that is not an absolute URI.
func NewEncoder(o Origin) (*Encoder, error) {
	source, dataSchema, err := o.canonical()
	if err != nil {
		return nil, err
	}
	return &Encoder{source: EncodeValue(source), dataSchema: EncodeValue(dataSchema)}, nil
}

// DefaultEncoder is the encoder of DefaultOrigin, which a test holds valid.
func DefaultEncoder() *Encoder {
	enc, err := NewEncoder(DefaultOrigin())
	if err != nil {
		panic(err) // DefaultOrigin is a constant: a bug, caught by its test
	}
	return enc
}

// canonical returns o's source and dataschema as the SDK writes them back
// (it parses both as URLs and prints them again), or why it refuses them.
func (o Origin) canonical() (source, dataSchema string, err error) {
	src, err := url.Parse(o.Source)
	if err != nil {
		return "", "", fmt.Errorf("event source %q: %w", o.Source, err)
	}
	source = src.String()
	if strings.TrimSpace(source) == "" {
		return "", "", fmt.Errorf("event source %q: a non-empty URI-reference is required", o.Source)
	}
	if ds := strings.TrimSpace(o.DataSchema); ds != "" {
		u, err := url.Parse(ds)
		if err != nil {
			return "", "", fmt.Errorf("event dataschema %q: %w", o.DataSchema, err)
		}
		if !u.IsAbs() {
			return "", "", fmt.Errorf("event dataschema %q: an absolute URI is required", o.DataSchema)
		}
		dataSchema = u.String()
	}
	return source, dataSchema, nil
}

// Msg returns the message on subject of the session summarized by s; raw is
// the webhook body, carried byte for byte, and received the time it came.
// It cannot fail: NewEncoder refused a bad origin.
func (enc *Encoder) Msg(subject string, s storylane.Summary, raw []byte, received time.Time) *nats.Msg {
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
	return &nats.Msg{Subject: subject, Header: h, Data: raw}
}
