// Package cloudevent turns a Storylane session and its raw webhook body into
// a CloudEvent 1.0 on a NATS message, in the binary content mode of the
// CloudEvents NATS protocol binding (Encoder, the one production writer),
// reads such messages back (FromMsg), renders the archive's line from the
// stored headers (Liner), and keeps free text fit for a header
// (HeaderText). The CloudEvents SDK's own event (FromSession) is the
// reference the tests hold the Encoder and the Liner to.
//
// It is pure: no I/O and no logging.
package cloudevent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

// Event types, one per kind of session.
const (
	TypeKnown   = "storylane.session.known"
	TypeUnknown = "storylane.session.unknown"
)

// DefaultSource is the source of events when none is configured.
const DefaultSource = "https://app.storylane.io"

// Origin describes where events come from and what their data follows.
type Origin struct {
	Source     string // CloudEvents source, a URI-reference
	DataSchema string // URI of the JSON Schema the data follows
}

// DefaultOrigin is the bridge's origin when no source is configured:
// DefaultSource, and the session schema as dataschema.
func DefaultOrigin() Origin {
	return Origin{Source: DefaultSource, DataSchema: schemas.SessionSchemaID}
}

// ID returns the event id of a webhook body: its hex SHA-256. A re-delivered
// identical webhook gets the same id, which lets JetStream and every
// consumer recognise it.
func ID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Type returns the event type of a session.
func Type(s storylane.Session) string {
	if s.Known() {
		return TypeKnown
	}
	return TypeUnknown
}

// FromSession builds the CloudEvent of a session with the SDK: the
// reference the tests hold the Encoder to, and the event tests build. raw is the webhook body:
// it becomes the event data byte for byte and is never re-encoded. subject
// is the session id (blanks around it trimmed, as the CloudEvents SDK does);
// time is eventTime's.
func FromSession(s storylane.Session, raw []byte, received time.Time, o Origin) (event.Event, error) {
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(ID(raw))
	e.SetType(Type(s))
	e.SetSource(o.Source)
	e.SetSubject(s.ID)
	e.SetTime(eventTime(s.Summary(), received))
	e.SetDataSchema(o.DataSchema)
	e.SetDataContentType(event.ApplicationJSON)
	// Assigned directly: SetData would mark a []byte as binary and the JSON
	// event format would then carry it as data_base64 instead of JSON.
	e.DataEncoded = raw
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("build event for session %q: %w", s.ID, err)
	}
	return e, nil
}

// eventTime is an event's time, in UTC: viewed_at when it parses and its UTC
// year can be written in RFC 3339 (0000 to 9999), otherwise received. A
// viewed_at of 0000-01-01T00:00:00+01:00 is in year -1 in UTC, a time no
// consumer could decode again.
func eventTime(s storylane.Summary, received time.Time) time.Time {
	t, ok := s.ViewedTime()
	if y := t.UTC().Year(); !ok || y < 0 || y > 9999 {
		t = received
	}
	return t.UTC()
}
