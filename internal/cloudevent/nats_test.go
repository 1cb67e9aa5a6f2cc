package cloudevent_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	natsce "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

func knownMsg(t *testing.T) (*nats.Msg, event.Event) {
	t.Helper()
	raw := example(t, "known")
	e, err := cloudevent.FromSession(session(t, raw), raw, time.Now(), origin)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cloudevent.ToMsg("storylane.session.known", e)
	if err != nil {
		t.Fatal(err)
	}
	return msg, e
}

func TestToMsgBinaryMode(t *testing.T) {
	t.Parallel()
	msg, e := knownMsg(t)
	want := map[string]string{
		"ce-specversion":     "1.0",
		"ce-id":              e.ID(),
		"ce-type":            "storylane.session.known",
		"ce-source":          "https://app.storylane.io",
		"ce-subject":         "2f37f8ce-6ecb-49a2-be12-36ae9c063042",
		"ce-time":            "2024-05-17T10:58:05.337Z",
		"ce-datacontenttype": "application/json",
		"ce-dataschema":      schemas.SessionSchemaID,
		"Nats-Msg-Id":        e.ID(),
	}
	for k, v := range want {
		if got := msg.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("ToMsg header %s = %q, want [%q]", k, got, v)
		}
	}
	if len(msg.Header) != len(want) {
		t.Errorf("ToMsg headers = %v, want exactly %v", msg.Header, want)
	}
	for k := range msg.Header {
		if strings.EqualFold(k, "content-type") {
			t.Errorf("ToMsg wrote a %s header, which marks structured mode", k)
		}
	}
	if msg.Subject != "storylane.session.known" || !bytes.Equal(msg.Data, example(t, "known")) {
		t.Errorf("ToMsg subject/data = %q/%d bytes, want the subject given and the body", msg.Subject, len(msg.Data))
	}
}

// TestSDKReaderDecodesToMsg checks what we write with the CloudEvents SDK's
// own NATS reader, untouched by our decoding.
func TestSDKReaderDecodesToMsg(t *testing.T) {
	t.Parallel()
	msg, want := knownMsg(t)
	m := natsce.NewMessage(msg)
	if enc := m.ReadEncoding(); enc != binding.EncodingBinary {
		t.Fatalf("SDK ReadEncoding() = %v, want binary", enc)
	}
	got, err := binding.ToEvent(context.Background(), m)
	if err != nil {
		t.Fatalf("SDK ToEvent error: %v", err)
	}
	assertSameEvent(t, *got, want)
}

func TestFromMsgRoundTripsAwkwardValues(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a b", "100%", `say "hi"`, "séance 😀", "tab\there", "%41", "  padded  "} {
		raw := []byte(`{"id":` + jsonString(id) + `}`)
		s, err := storylane.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		e, err := cloudevent.FromSession(s, raw, time.Now(), cloudevent.Origin{Source: "urn:storylane:test space", DataSchema: schemas.SessionSchemaID})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := cloudevent.ToMsg("storylane.session.unknown", e)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range msg.Header {
			if strings.ContainsFunc(vs[0], func(r rune) bool { return r <= ' ' || r > '~' || r == '"' }) {
				t.Errorf("ToMsg(subject %q) header %s = %q, want printable ASCII without space or quote", id, k, vs[0])
			}
		}
		got, err := cloudevent.FromMsg(msg)
		if err != nil {
			t.Fatalf("FromMsg(ToMsg(subject %q)) error: %v", id, err)
		}
		assertSameEvent(t, got, e)
	}
}

func TestFromMsgReadsStructuredMode(t *testing.T) {
	t.Parallel()
	_, e := knownMsg(t)
	body, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(`"data":{`)) {
		t.Fatalf("structured JSON of the event = %s, want data as JSON, not base64", body)
	}
	msg := &nats.Msg{Subject: "x", Data: body, Header: nats.Header{"Content-Type": {"application/cloudevents+json"}}}
	got, err := cloudevent.FromMsg(msg)
	if err != nil {
		t.Fatalf("FromMsg(structured) error: %v", err)
	}
	if got.Context.String() != e.Context.String() {
		t.Errorf("FromMsg(structured) attributes =\n%s\nwant\n%s", got.Context, e.Context)
	}
	// The JSON event format carries data as a JSON value, so the whitespace
	// around it is not kept; binary mode is the byte-exact one.
	if !bytes.Equal(got.Data(), bytes.TrimSpace(e.Data())) {
		t.Errorf("FromMsg(structured).Data() = %q, want %q", got.Data(), bytes.TrimSpace(e.Data()))
	}
}

func TestFromMsgRejects(t *testing.T) {
	t.Parallel()
	good, _ := knownMsg(t)
	tests := map[string]func(h nats.Header){
		"no specversion":     func(h nats.Header) { h.Del("ce-specversion") },
		"bad percent":        func(h nats.Header) { h.Set("ce-subject", "%zz") },
		"overlong encoding":  func(h nats.Header) { h.Set("ce-subject", "%C0%A0") },
		"no id":              func(h nats.Header) { h.Del("ce-id") },
		"unterminated quote": func(h nats.Header) { h.Set("ce-type", `"storylane`) },
	}
	for name, mutate := range tests {
		msg := &nats.Msg{Subject: good.Subject, Data: good.Data, Header: nats.Header{}}
		for k, v := range good.Header {
			msg.Header[k] = append([]string(nil), v...)
		}
		mutate(msg.Header)
		if _, err := cloudevent.FromMsg(msg); err == nil {
			t.Errorf("FromMsg(%s) = nil error, want an error", name)
		}
	}
}

func assertSameEvent(t *testing.T, got, want event.Event) {
	t.Helper()
	if got.String() != want.String() {
		t.Errorf("decoded event =\n%s\nwant\n%s", got, want)
	}
	if !bytes.Equal(got.Data(), want.Data()) {
		t.Errorf("decoded data = %q, want %q", got.Data(), want.Data())
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < ' ':
			b.WriteString(`\u00` + string("0123456789abcdef"[r>>4]) + string("0123456789abcdef"[r&0xF]))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestSDKReaderLeavesPercentEncoding shows why FromMsg percent-decodes
// before handing a message to the SDK: the SDK's NATS reader (v2.16.2)
// returns header values as they are. Should a later SDK decode them itself,
// this fails, and FromMsg must stop decoding or it would decode twice.
func TestSDKReaderLeavesPercentEncoding(t *testing.T) {
	t.Parallel()
	raw := []byte(`{"id":"a b%"}`)
	e, err := cloudevent.FromSession(session(t, raw), raw, time.Now(), origin)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cloudevent.ToMsg("storylane.session.unknown", e)
	if err != nil {
		t.Fatal(err)
	}
	sdk, err := binding.ToEvent(context.Background(), natsce.NewMessage(msg))
	if err != nil {
		t.Fatal(err)
	}
	if got := sdk.Subject(); got != "a%20b%25" {
		t.Errorf("SDK reader subject = %q, want the raw header a%%20b%%25", got)
	}
	ours, err := cloudevent.FromMsg(msg)
	if err != nil || ours.Subject() != "a b%" {
		t.Errorf("FromMsg subject = %q, %v, want %q", ours.Subject(), err, "a b%")
	}
}

// BenchmarkToMsg builds a known session's event and its binary-mode NATS
// message, as the bridge does for every webhook.
func BenchmarkToMsg(b *testing.B) {
	raw := example(b, "known")
	s := session(b, raw)
	received := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		e, err := cloudevent.FromSession(s, raw, received, origin)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cloudevent.ToMsg("storylane.session.known", e); err != nil {
			b.Fatal(err)
		}
	}
}
