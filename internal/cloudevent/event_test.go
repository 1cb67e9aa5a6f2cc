package cloudevent_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

var origin = cloudevent.DefaultOrigin()

func example(t testing.TB, name string) []byte {
	t.Helper()
	b, err := schemas.Example(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func session(t testing.TB, raw []byte) storylane.Session {
	t.Helper()
	s, err := storylane.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFromSessionExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, wantType, wantID string
	}{
		// The ids are sha256sum of the example files.
		{"known", cloudevent.TypeKnown, "7e40d738d5010de67d5212af4cd3d87fc63cfcf5d106493101214d2ddf6435db"},
		{"unknown", cloudevent.TypeUnknown, ""},
	}
	received := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range tests {
		raw := example(t, tt.name)
		e, err := cloudevent.FromSession(session(t, raw), raw, received, origin)
		if err != nil {
			t.Fatalf("FromSession(%s) error: %v", tt.name, err)
		}
		if e.ID() != cloudevent.ID(raw) || len(e.ID()) != 64 {
			t.Errorf("FromSession(%s).ID() = %q, want the hex sha256 of the body", tt.name, e.ID())
		}
		if tt.wantID != "" && e.ID() != tt.wantID {
			t.Errorf("FromSession(%s).ID() = %q, want %q", tt.name, e.ID(), tt.wantID)
		}
		checks := []struct{ attr, got, want string }{
			{"specversion", e.SpecVersion(), "1.0"},
			{"type", e.Type(), tt.wantType},
			{"source", e.Source(), "https://app.storylane.io"},
			{"subject", e.Subject(), "2f37f8ce-6ecb-49a2-be12-36ae9c063042"},
			{"time", e.Time().Format(time.RFC3339Nano), "2024-05-17T10:58:05.337Z"},
			{"datacontenttype", e.DataContentType(), "application/json"},
			{"dataschema", e.DataSchema(), schemas.SessionSchemaID},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("FromSession(%s) %s = %q, want %q", tt.name, c.attr, c.got, c.want)
			}
		}
		if !bytes.Equal(e.Data(), raw) {
			t.Errorf("FromSession(%s).Data() differs from the webhook body", tt.name)
		}
	}
}

func TestIDIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := example(t, "known"), example(t, "known")
	if cloudevent.ID(a) != cloudevent.ID(b) {
		t.Error("ID(known) differs between two reads of the same bytes")
	}
	if cloudevent.ID(a) == cloudevent.ID(append(a, ' ')) {
		t.Error("ID(known) = ID(known + space), want different ids for different bodies")
	}
}

func TestFromSessionTimeFallsBackToReceipt(t *testing.T) {
	t.Parallel()
	received := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
	for _, raw := range []string{`{"id":"s"}`, `{"id":"s","viewed_at":null}`, `{"id":"s","viewed_at":"soon"}`,
		// Years -1 and 10000 in UTC: RFC 3339 cannot write them, and no
		// consumer could decode the event again.
		`{"id":"s","viewed_at":"0000-01-01T00:00:00+01:00"}`, `{"id":"s","viewed_at":"9999-12-31T23:59:59-01:00"}`} {
		e, err := cloudevent.FromSession(session(t, []byte(raw)), []byte(raw), received, origin)
		if err != nil {
			t.Fatal(err)
		}
		if !e.Time().Equal(received) || e.Time().Location() != time.UTC {
			t.Errorf("FromSession(%s).Time() = %v, want %v in UTC", raw, e.Time(), received)
		}
		msg, err := cloudevent.ToMsg("storylane.session.unknown", e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cloudevent.FromMsg(msg); err != nil {
			t.Errorf("FromMsg(ToMsg(FromSession(%s))) = %v, want the event back", raw, err)
		}
	}
}

func TestFromSessionRejectsBadSource(t *testing.T) {
	t.Parallel()
	raw := example(t, "known")
	if _, err := cloudevent.FromSession(session(t, raw), raw, time.Now(), cloudevent.Origin{Source: ""}); err == nil {
		t.Error(`FromSession with source "" = nil error, want an error`)
	}
}

// FuzzFromSession builds events from arbitrary bodies: it never panics,
// the data is the body byte for byte, every header is printable ASCII, and
// the message decodes back to the same event.
func FuzzFromSession(f *testing.F) {
	f.Add(example(f, "known"))
	f.Add(example(f, "unknown"))
	f.Add([]byte(`{"id":"a b%\"é","viewed_at":"2024-13-45T99:00:00Z","lead":{}}`))
	f.Add([]byte(`{"id":"x","viewed_at":"2024-05-17T10:58:05.337+02:00"}`))
	f.Add([]byte(`{"id":"x","viewed_at":"0001-01-01T01:00:00+01:00"}`))
	received := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	enc := cloudevent.DefaultEncoder()
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := storylane.Parse(raw)
		if err != nil {
			return
		}
		checkSameMsg(t, enc, origin, raw, received)
		e, err := cloudevent.FromSession(s, raw, received, origin)
		if err != nil {
			t.Fatalf("FromSession(%q) = %v, want an event for any parsed session", raw, err)
		}
		// The SDK trims the subject; the data keeps the id as sent.
		if !bytes.Equal(e.Data(), raw) || e.ID() != cloudevent.ID(raw) || e.Subject() != strings.TrimSpace(s.ID) {
			t.Fatalf("FromSession(%q) changed the data, id or subject", raw)
		}
		msg, err := cloudevent.ToMsg("storylane.session.x", e)
		if err != nil {
			t.Fatalf("ToMsg(%q) = %v", raw, err)
		}
		for k, vs := range msg.Header {
			for _, v := range vs {
				for i := 0; i < len(v); i++ {
					if v[i] < 0x21 || v[i] > 0x7e {
						t.Fatalf("header %s = %q holds byte %#x", k, v, v[i])
					}
				}
			}
		}
		back, err := cloudevent.FromMsg(msg)
		if err != nil || back.ID() != e.ID() || back.Subject() != e.Subject() || !bytes.Equal(back.Data(), raw) {
			t.Fatalf("FromMsg(ToMsg(%q)) = %v, %v, want the event back", raw, back, err)
		}
	})
}
