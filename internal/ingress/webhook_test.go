package ingress_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

func TestExamplesEndToEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	tests := []struct {
		name, sig, subject, typ string
	}{
		{"known", "lBArux/d/3yC66HID2DspizQTbfMu/VLP9y8R7AZUds=", "storylane.session.known", "storylane.session.known"},
		{"unknown", "U7fHHRDhbo26280D9Iv0GehO8RGEZHCbridj3nq7dkk=", "storylane.session.unknown", "storylane.session.unknown"},
	}
	for i, tt := range tests {
		body := example(t, tt.name)
		id := cloudevent.ID(body)
		res := h.post(t, body, tt.sig)
		if res.status != http.StatusOK {
			t.Fatalf("POST %s = %d %s, want 200", tt.name, res.status, res.body)
		}
		got := res.json(t)
		want := map[string]any{"id": id, "type": tt.typ, "stream": "STORYLANE", "seq": float64(i + 1), "duplicate": false}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("POST %s answer %s = %v, want %v", tt.name, k, got[k], v)
			}
		}
		msgs := h.messages(t)
		if len(msgs) != i+1 {
			t.Fatalf("stream holds %d messages after POST %s, want %d", len(msgs), tt.name, i+1)
		}
		m := msgs[i]
		if m.Subject != tt.subject {
			t.Errorf("stored subject = %q, want %q", m.Subject, tt.subject)
		}
		headers := map[string]string{
			"ce-specversion":     "1.0",
			"ce-id":              id,
			"ce-type":            tt.typ,
			"ce-source":          "https://app.storylane.io",
			"ce-subject":         "2f37f8ce-6ecb-49a2-be12-36ae9c063042",
			"ce-time":            "2024-05-17T10:58:05.337Z",
			"ce-datacontenttype": "application/json",
			"ce-dataschema":      schemas.SessionSchemaID,
			"Nats-Msg-Id":        id,
		}
		for k, v := range headers {
			if got := m.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("stored header %s = %q, want [%q]", k, got, v)
			}
		}
		for k := range m.Header {
			if strings.EqualFold(k, "Content-Type") {
				t.Errorf("stored message has a %s header, which marks structured mode", k)
			}
		}
		if !bytes.Equal(m.Data, body) {
			t.Errorf("stored data differs from the webhook body:\n%q\nwant\n%q", m.Data, body)
		}
		e, err := cloudevent.FromMsg(asMsg(m))
		if err != nil || e.Type() != tt.typ || !bytes.Equal(e.Data(), body) {
			t.Errorf("FromMsg(stored) = %v, %v, want the %s event", e, err, tt.typ)
		}
	}
}

func TestSignatureRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	body := example(t, "known")
	good := sign(body, secret1)
	tests := []struct {
		name, sig, wantErr string
	}{
		{"missing", "", "missing signature"},
		{"wrong secret", sign(body, "not-the-secret"), "invalid signature"},
		{"other body", sign([]byte(`{"id":"x"}`), secret1), "invalid signature"},
		{"malformed", "definitely not base64!", "invalid signature"},
		{"hex instead of base64", strings.Repeat("0f", 32), "invalid signature"},
		{"truncated", good[:20], "invalid signature"},
	}
	for _, tt := range tests {
		res := h.post(t, body, tt.sig)
		if res.status != http.StatusUnauthorized {
			t.Errorf("POST with %s signature = %d, want 401", tt.name, res.status)
		}
		if got := res.json(t)["error"]; got != tt.wantErr {
			t.Errorf("POST with %s signature error = %v, want %q", tt.name, got, tt.wantErr)
		}
		for _, leak := range []string{good, sign(body, secret2), secret1, secret2} {
			if bytes.Contains(res.body, []byte(leak)) || strings.Contains(fmt.Sprint(res.header), leak) {
				t.Errorf("401 answer to %s signature reveals %q", tt.name, leak)
			}
		}
	}
	if n := len(h.messages(t)); n != 0 {
		t.Errorf("stream holds %d messages after rejected webhooks, want 0", n)
	}
}

func TestEitherRotatedSecretWorks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	for i, secret := range []string{secret1, secret2} {
		body := []byte(fmt.Sprintf(`{"id":"rotation-%d","lead":null}`, i))
		if res := h.post(t, body, sign(body, secret)); res.status != http.StatusOK {
			t.Errorf("POST signed with secret %d = %d %s, want 200", i+1, res.status, res.body)
		}
	}
	if n := len(h.messages(t)); n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
}

func TestRedeliveryIsStoredOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	body := example(t, "unknown")
	first := h.post(t, body, sign(body, secret1)).json(t)
	// Storylane signing with the rotated secret is still the same webhook.
	second := h.post(t, body, sign(body, secret2)).json(t)
	if first["duplicate"] != false || second["duplicate"] != true || first["seq"] != second["seq"] || first["id"] != second["id"] {
		t.Errorf("two deliveries answered %v then %v, want the second a duplicate of the first", first, second)
	}
	if n := len(h.messages(t)); n != 1 {
		t.Errorf("stream holds %d messages after a re-delivery, want 1", n)
	}
}

func TestOversizeBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{MaxBody: 512})
	body := example(t, "known") // 976 bytes
	sig := sign(body, secret1)
	if res := h.post(t, body, sig); res.status != http.StatusRequestEntityTooLarge || res.json(t)["error"] == nil {
		t.Errorf("POST %d bytes with a 512-byte limit = %d %s, want 413 with a JSON error", len(body), res.status, res.body)
	}
	// Chunked, so the limit is found while reading rather than from Content-Length.
	req, _ := http.NewRequest(http.MethodPost, h.url+ingress.WebhookPath, io.MultiReader(bytes.NewReader(body)))
	req.Header.Set("x-storylane-signature", sig)
	if res := h.do(t, req); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked POST %d bytes with a 512-byte limit = %d, want 413", len(body), res.status)
	}
	small := []byte(`{"id":"small"}`)
	if res := h.post(t, small, sign(small, secret1)); res.status != http.StatusOK {
		t.Errorf("POST %d bytes = %d, want 200", len(small), res.status)
	}
	if n := len(h.messages(t)); n != 1 {
		t.Errorf("stream holds %d messages, want only the small one", n)
	}
}

func TestInvalidPayloadIsKept(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	tests := []invalidCase{
		{"not json", []byte("name=Product+Demo&id=1"), "not JSON"},
		{"no id", []byte(`{"name":"Product Demo","lead":null}`), "missing property 'id'"},
		{"completion is text", []byte(`{"id":"s","completion":"thirty"}`), `at "/completion"`},
		{"unicode key", []byte(`{"id":"s","utm_params":{"é\n":{}}}`), `\u00e9`},
	}
	assertKeptAsInvalid(t, h, tests)
}

// invalidCase is a signed payload that is no valid session, and what its
// reason must say.
type invalidCase struct {
	name   string
	body   []byte
	reason string
}

// assertKeptAsInvalid posts each case, signed, to h's empty stream, and
// checks it is answered 422 with its reason and kept on storylane.invalid
// byte for byte, with a printable reason, an id apart from event ids and
// its receipt time.
func assertKeptAsInvalid(t *testing.T, h *harness, tests []invalidCase) {
	t.Helper()
	for i, tt := range tests {
		res := h.post(t, tt.body, sign(tt.body, secret1))
		if res.status != http.StatusUnprocessableEntity {
			t.Fatalf("POST %s = %d %s, want 422", tt.name, res.status, res.body)
		}
		if reason, _ := res.json(t)["reason"].(string); !strings.Contains(reason, tt.reason) {
			t.Errorf("POST %s reason = %q, want it to mention %q", tt.name, reason, tt.reason)
		}
		msgs := h.messages(t)
		if len(msgs) != i+1 {
			t.Fatalf("stream holds %d messages, want %d", len(msgs), i+1)
		}
		m := msgs[i]
		reason := m.Header.Get(ingress.InvalidReasonHeader)
		if m.Subject != "storylane.invalid" || !bytes.Equal(m.Data, tt.body) || !strings.Contains(reason, tt.reason) {
			t.Errorf("kept %s as %s %q reason %q, want storylane.invalid, the body and a reason", tt.name, m.Subject, m.Data, reason)
		}
		if strings.ContainsFunc(reason, func(r rune) bool { return r < ' ' || r > '~' }) {
			t.Errorf("kept %s with reason %q, want printable ASCII", tt.name, reason)
		}
		if id := m.Header.Get("Nats-Msg-Id"); id != "invalid:"+cloudevent.ID(tt.body) {
			t.Errorf("kept %s with Nats-Msg-Id %q, want invalid:<sha256>, apart from event ids", tt.name, id)
		}
		if _, err := time.Parse(time.RFC3339Nano, m.Header.Get(ingress.ReceivedAtHeader)); err != nil {
			t.Errorf("kept %s with %s %q: %v", tt.name, ingress.ReceivedAtHeader, m.Header.Get(ingress.ReceivedAtHeader), err)
		}
	}
}

func TestBrokerOutageAnswers503ThenRecovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{PublishTimeout: time.Second})
	h.nats.Stop()
	body := example(t, "known")
	for _, b := range [][]byte{body, []byte("not json")} {
		res := h.post(t, b, sign(b, secret1))
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
			t.Errorf("POST %.10q with the broker stopped = %d (Retry-After %q), want 503 with Retry-After", b, res.status, res.header.Get("Retry-After"))
		}
	}
	if res := h.get(t, "/readyz"); res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "5" || res.json(t)["status"] != "unavailable" {
		t.Errorf("GET /readyz with the broker stopped = %d (Retry-After %q) %s, want 503 unavailable with Retry-After 5", res.status, res.header.Get("Retry-After"), res.body)
	}
	if h.logs.FilterFieldKey("not_ready").Len() == 0 {
		t.Error("GET /readyz with the broker stopped logged no not_ready reason")
	}
	h.nats.Restart()
	var res response
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res = h.post(t, body, sign(body, secret1)); res.status == http.StatusOK {
			break
		}
	}
	if res.status != http.StatusOK {
		t.Fatalf("POST after the broker came back = %d %s, want 200", res.status, res.body)
	}
	if res := h.get(t, "/readyz"); res.status != http.StatusOK {
		t.Errorf("GET /readyz after recovery = %d %s, want 200", res.status, res.body)
	}
	if n := len(h.messages(t)); n != 1 {
		t.Errorf("stream holds %d messages, want 1: nothing answered 503 may be stored twice", n)
	}
}

func TestConcurrentWebhooksAllStored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	const n = 50
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(fmt.Sprintf(`{"id":"concurrent-%d","lead":{"email":"p%d@example.com"}}`, i, i))
			codes[i] = h.post(t, body, sign(body, secret1)).status
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("POST %d = %d, want 200", i, c)
		}
	}
	if got := len(h.messages(t)); got != n {
		t.Errorf("stream holds %d messages, want %d", got, n)
	}
}

// An origin the CloudEvents SDK refuses is a wiring bug caught at
// construction: before, NewServer returned a handler that answered every
// valid webhook 422 on storylane.invalid.
func TestNewServerPanicsOnBadOrigin(t *testing.T) {
	t.Parallel()
	for _, o := range []cloudevent.Origin{{Source: ""}, {Source: "urn:x", DataSchema: "relative/schema.json"}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "ingress.NewServer") {
					t.Errorf("NewServer(Origin %+v) recovered %v, want a panic naming ingress.NewServer", o, r)
				}
			}()
			ingress.NewServer(ingress.Config{Origin: o}, ingress.Deps{})
		}()
	}
}
