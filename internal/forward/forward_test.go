package forward_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/forward"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func knownEvent(t *testing.T, sessionID string) event.Event {
	t.Helper()
	raw, err := schemas.Example("known")
	if err != nil {
		t.Fatal(err)
	}
	if sessionID != "" {
		raw = bytes.Replace(raw, []byte("2f37f8ce-6ecb-49a2-be12-36ae9c063042"), []byte(sessionID), 1)
	}
	s, err := storylane.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	e, err := cloudevent.FromSession(s, raw, time.Now(), cloudevent.DefaultOrigin())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// captured is what the target received.
type captured struct {
	header http.Header
	body   []byte
	event  *event.Event
	err    error
}

func target(t *testing.T, status int, header http.Header) (string, chan captured) {
	t.Helper()
	got := make(chan captured, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		// The CloudEvents SDK's own HTTP reader, as a receiver would use it.
		e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		got <- captured{r.Header.Clone(), body, e, err}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

func newTarget(t *testing.T, url, mode, secret string) *forward.Target {
	t.Helper()
	tg, err := forward.NewTarget(url, mode, secret, &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestDeliverBinaryMode(t *testing.T) {
	t.Parallel()
	url, got := target(t, http.StatusOK, nil)
	e := knownEvent(t, "")
	if err := newTarget(t, url, forward.Binary, "").Deliver(context.Background(), e); err != nil {
		t.Fatalf("Deliver() = %v, want nil", err)
	}
	c := <-got
	want := map[string]string{
		"Ce-Specversion": "1.0", "Ce-Id": e.ID(), "Ce-Type": "storylane.session.known",
		"Ce-Source": "https://app.storylane.io", "Ce-Subject": e.Subject(), "Ce-Time": "2024-05-17T10:58:05.337Z",
		"Ce-Dataschema": schemas.SessionSchemaID, "Content-Type": "application/json", "Idempotency-Key": e.ID(),
	}
	for k, v := range want {
		if c.header.Get(k) != v {
			t.Errorf("delivered header %s = %q, want %q", k, c.header.Get(k), v)
		}
	}
	if !bytes.Equal(c.body, e.Data()) {
		t.Errorf("delivered body differs from the event data")
	}
	if c.err != nil || c.event.ID() != e.ID() || c.event.Type() != e.Type() {
		t.Errorf("SDK reader at the target = %v, %v, want the event", c.event, c.err)
	}
	if c.header.Get(forward.WebhookSignatureHeader) != "" {
		t.Error("delivered a signature without a secret")
	}
}

func TestDeliverStructuredMode(t *testing.T) {
	t.Parallel()
	url, got := target(t, http.StatusAccepted, nil)
	e := knownEvent(t, "")
	if err := newTarget(t, url, forward.Structured, "").Deliver(context.Background(), e); err != nil {
		t.Fatalf("Deliver() = %v, want nil", err)
	}
	c := <-got
	if ct := c.header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("structured Content-Type = %q, want application/cloudevents+json", ct)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(c.body, &doc); err != nil || string(doc["id"]) != strconv.Quote(e.ID()) {
		t.Fatalf("structured body = %s, want the JSON event format", c.body)
	}
	var data, want any
	json.Unmarshal(doc["data"], &data)
	json.Unmarshal(e.Data(), &want)
	if !jsonEqual(data, want) {
		t.Errorf("structured data = %s, want the session as JSON (not base64)", doc["data"])
	}
	if c.err != nil || c.event.ID() != e.ID() {
		t.Errorf("SDK reader at the target = %v, %v, want the event", c.event, c.err)
	}
	if c.header.Get("Idempotency-Key") != e.ID() {
		t.Errorf("Idempotency-Key = %q, want %q", c.header.Get("Idempotency-Key"), e.ID())
	}
}

func TestDeliverPercentEncodesAttributes(t *testing.T) {
	t.Parallel()
	url, got := target(t, http.StatusOK, nil)
	e := knownEvent(t, "séance 100%")
	if err := newTarget(t, url, forward.Binary, "").Deliver(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	c := <-got
	if v := c.header.Get("Ce-Subject"); v != "s%C3%A9ance%20100%25" {
		t.Errorf("Ce-Subject = %q, want the percent-encoded session id", v)
	}
	if dec, err := cloudevent.DecodeValue(c.header.Get("Ce-Subject")); err != nil || dec != "séance 100%" {
		t.Errorf("DecodeValue(Ce-Subject) = %q, %v, want the session id", dec, err)
	}
}

func TestDeliverSignsWithStandardWebhooks(t *testing.T) {
	t.Parallel()
	url, got := target(t, http.StatusOK, nil)
	e := knownEvent(t, "")
	for _, secret := range []string{"plain-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		if err := newTarget(t, url, forward.Binary, secret).Deliver(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		c := <-got
		key := []byte(secret)
		if secret[:6] == "whsec_" {
			key = []byte{0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a, 0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f, 0x08, 0x2c, 0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0}
		}
		id, ts := c.header.Get(forward.WebhookIDHeader), c.header.Get(forward.WebhookTimestampHeader)
		want := "v1," + forward.Signature(key, id, ts, c.body)
		if id != e.ID() || c.header.Get(forward.WebhookSignatureHeader) != want {
			t.Errorf("secret %s: signature headers id=%q sig=%q, want id %q sig %q", secret, id, c.header.Get(forward.WebhookSignatureHeader), e.ID(), want)
		}
		if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)) > time.Minute {
			t.Errorf("webhook-timestamp = %q, want the current unix time", ts)
		}
	}
}

// TestSignatureVector checks Signature against the Standard Webhooks
// specification's published example.
func TestSignatureVector(t *testing.T) {
	t.Parallel()
	key := []byte{0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a, 0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f, 0x08, 0x2c, 0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0}
	got := forward.Signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if want := "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Signature(spec example) = %s, want %s", got, want)
	}
}

func TestDeliverClassifiesAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		retryAfter string
		want       string // ok, retry, permanent
		delay      time.Duration
	}{
		{200, "", "ok", 0},
		{201, "", "ok", 0},
		{204, "", "ok", 0},
		{302, "", "permanent", 0},
		{400, "", "permanent", 0},
		{401, "", "permanent", 0},
		{404, "", "permanent", 0},
		{422, "", "permanent", 0},
		{408, "", "retry", 0},
		{429, "7", "retry", 7 * time.Second},
		{500, "", "retry", 0},
		{502, "", "retry", 0},
		{503, "120", "retry", 2 * time.Minute},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.retryAfter != "" {
			h.Set("Retry-After", tt.retryAfter)
		}
		url, got := target(t, tt.status, h)
		err := newTarget(t, url, forward.Binary, "").Deliver(context.Background(), knownEvent(t, ""))
		<-got
		var ra *consume.RetryAfterError
		switch {
		case tt.want == "ok" && err != nil,
			tt.want == "permanent" && !errors.Is(err, consume.ErrPermanent),
			tt.want == "retry" && (err == nil || errors.Is(err, consume.ErrPermanent)):
			t.Errorf("Deliver() to a %d target = %v, want %s", tt.status, err, tt.want)
		case tt.delay > 0 && (!errors.As(err, &ra) || ra.Delay != tt.delay):
			t.Errorf("Deliver() to a %d target with Retry-After %s = %v, want a retry after %v", tt.status, tt.retryAfter, err, tt.delay)
		}
	}
}

func TestDeliverRetriesUnreachableAndSlowTargets(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	for name, url := range map[string]string{"refused": closed, "timeout": slow.URL} {
		tg, _ := forward.NewTarget(url, forward.Binary, "", &http.Client{Timeout: 200 * time.Millisecond})
		err := tg.Deliver(context.Background(), knownEvent(t, ""))
		if err == nil || errors.Is(err, consume.ErrPermanent) {
			t.Errorf("Deliver() to a %s target = %v, want a retryable error", name, err)
		}
	}
}

func TestNewTargetRejects(t *testing.T) {
	t.Parallel()
	if _, err := forward.NewTarget("http://x", "smoke-signals", "", http.DefaultClient); err == nil {
		t.Error("NewTarget(mode smoke-signals) = nil error, want an error")
	}
	if _, err := forward.NewTarget("http://x", forward.Binary, "whsec_!!!", http.DefaultClient); err == nil {
		t.Error("NewTarget(secret whsec_!!!) = nil error, want an error")
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://hooks.zapier.com/hooks/catch/1/abc/":       "https://hooks.zapier.com/hooks/catch/1/abc/",
		"https://user:pw@crm.example.com/in?api_key=s3cret": "https://user:xxxxx@crm.example.com/in?redacted",
	} {
		if got := forward.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDeliverErrorsHideTheTargetsKey: a failed delivery's error is logged
// and stored in dead letters, so it must not carry the URL's secrets.
func TestDeliverErrorsHideTheTargetsKey(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://hook:pa55@" + ln.Addr().String() + "/hook?api_key=s3cret"
	ln.Close()
	err = newTarget(t, url, forward.Binary, "").Deliver(context.Background(), knownEvent(t, ""))
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pa55") {
		t.Errorf("Deliver() to a refusing target = %v, want an error without the URL's key or password", err)
	}
}
