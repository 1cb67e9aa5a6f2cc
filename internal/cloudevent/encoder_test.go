package cloudevent_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// sdkMsg is the message the CloudEvents SDK path builds, the reference the
// Encoder must match.
func sdkMsg(t testing.TB, subject string, s storylane.Session, raw []byte, received time.Time, o cloudevent.Origin) *nats.Msg {
	t.Helper()
	e, err := cloudevent.FromSession(s, raw, received, o)
	if err != nil {
		t.Fatalf("FromSession(%q) = %v", raw, err)
	}
	msg, err := cloudevent.ToMsg(subject, e)
	if err != nil {
		t.Fatalf("ToMsg(%q) = %v", raw, err)
	}
	return msg
}

// checkSameMsg fails unless the Encoder writes what the SDK path writes.
func checkSameMsg(t testing.TB, enc *cloudevent.Encoder, o cloudevent.Origin, raw []byte, received time.Time) {
	t.Helper()
	s, err := storylane.Parse(raw)
	if err != nil {
		t.Fatalf("Parse(%q) = %v: a body compared must be a session", raw, err)
	}
	want := sdkMsg(t, "storylane.session.x", s, raw, received, o)
	got := enc.Msg("storylane.session.x", s.Summary(), raw, received)
	if got.Subject != want.Subject || string(got.Data) != string(want.Data) || !reflect.DeepEqual(got.Header, want.Header) {
		t.Fatalf("Encoder.Msg(%q) = %v, %v; want %v, %v", raw, got.Header, got.Subject, want.Header, want.Subject)
	}
}

func TestEncoderMatchesSDK(t *testing.T) {
	t.Parallel()
	received := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	origins := []cloudevent.Origin{origin, {Source: "urn:storylane:acme"}, {Source: "HTTPS://Example.COM/a%20b?x=1#f", DataSchema: "https://example.com/s.json"}}
	bodies := []string{
		string(example(t, "known")), string(example(t, "unknown")),
		`{"id":"  padded\t"}`, `{"id":"a b%\"é\u0000"}`, `{"id":"x","viewed_at":"2024-05-17T10:58:05.337+02:00"}`,
		`{"id":"x","viewed_at":"not a time"}`, `{"id":"x","viewed_at":"0001-01-01T00:00:00Z"}`, `{"id":"x","viewed_at":"0001-01-01T01:00:00+01:00"}`,
		`{"id":"x","viewed_at":"0000-01-01T00:00:00Z"}`, `{"id":"x","viewed_at":"0000-01-01T00:00:00+01:00"}`, `{"id":"x","viewed_at":"9999-12-31T23:59:59-01:00"}`,
		`{"id":"x","buyer_reveal":{}}`, `{"id":"x","lead":null,"buyer_reveal":null}`,
	}
	for _, o := range origins {
		enc, err := cloudevent.NewEncoder(o)
		if err != nil {
			t.Fatalf("NewEncoder(%+v) = %v", o, err)
		}
		for _, b := range bodies {
			checkSameMsg(t, enc, o, []byte(b), received)
		}
	}
}

// NewEncoder refuses exactly the origins the SDK refuses, at once, and
// writes the others as the SDK writes them back.
func TestNewEncoderAgreesWithSDKOnOrigins(t *testing.T) {
	t.Parallel()
	raw := example(t, "known")
	s := session(t, raw)
	received := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, o := range []cloudevent.Origin{
		{Source: ""}, {Source: " "}, {Source: "%zz"}, {Source: "http://[::1"}, {Source: "a b"}, {Source: "/relative?q=é"},
		{Source: "urn:x", DataSchema: "relative/schema.json"}, {Source: "urn:x", DataSchema: " https://example.com/s.json "},
		{Source: "urn:x", DataSchema: "https://%zz"}, {Source: "urn:x", DataSchema: "  "}, {Source: "HTTPS://Example.COM/a%20b?x=1#f"},
		{Source: "urn:x", DataSchema: "HTTPS://Example.COM/s%7e.json"},
	} {
		enc, err := cloudevent.NewEncoder(o)
		_, sdkErr := cloudevent.FromSession(s, raw, received, o)
		if (err == nil) != (sdkErr == nil) {
			t.Errorf("NewEncoder(%+v) = %v, the SDK says %v", o, err, sdkErr)
			continue
		}
		if err == nil {
			checkSameMsg(t, enc, o, raw, received)
		}
	}
}

// An origin the SDK refuses fails at construction: before, NewEncoder
// kept the error and every message failed with it.
func TestNewEncoderRefusesBadOrigin(t *testing.T) {
	t.Parallel()
	if enc, err := cloudevent.NewEncoder(cloudevent.Origin{Source: ""}); err == nil {
		t.Errorf("NewEncoder(source \"\") = %v, nil, want an error", enc)
	}
	if enc := cloudevent.DefaultEncoder(); enc == nil {
		t.Error("DefaultEncoder() = nil, want the encoder of DefaultOrigin")
	}
}

func BenchmarkEncoderMsg(b *testing.B) {
	raw := example(b, "known")
	s := session(b, raw).Summary()
	enc := cloudevent.DefaultEncoder()
	received := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		enc.Msg("storylane.session.known", s, raw, received)
	}
}
