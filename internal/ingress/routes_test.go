package ingress_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

func TestRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/healthz", http.StatusOK, ""},
		{http.MethodGet, "/readyz", http.StatusOK, ""},
		{http.MethodGet, ingress.WebhookPath, http.StatusMethodNotAllowed, "POST"},
		{http.MethodPut, ingress.WebhookPath, http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodGet, "/", http.StatusNotFound, ""},
		{http.MethodPost, "/webhooks/other", http.StatusNotFound, ""},
		{http.MethodPost, "//webhooks/storylane", http.StatusNotFound, ""},
		{http.MethodPost, "/webhooks/../webhooks/storylane", http.StatusNotFound, ""},
		{http.MethodPost, "/webhooks%2Fstorylane", http.StatusNotFound, ""},
		{http.MethodPost, "/webhooks%2fstorylane", http.StatusNotFound, ""},
		{http.MethodPost, "/webhooks/%73torylane", http.StatusNotFound, ""},
		{http.MethodPost, "/%77ebhooks/storylane", http.StatusNotFound, ""},
		{http.MethodGet, "/healthz%2F", http.StatusNotFound, ""},
		{http.MethodGet, "/%68ealthz", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, h.url+tt.path, nil)
		res := h.do(t, req)
		if res.status != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, res.status, tt.status)
		}
		if ct := res.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s Content-Type = %q, want application/json", tt.method, tt.path, ct)
		}
		res.json(t)
		if got := res.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	// Taken from a trusted proxy only.
	h := newHarness(t, ingress.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	req, _ := http.NewRequest(http.MethodGet, h.url+"/nowhere", nil)
	req.Header.Set(ingress.RequestIDHeader, "trace-123")
	res := h.do(t, req)
	if got := res.header.Get(ingress.RequestIDHeader); got != "trace-123" || res.json(t)["request_id"] != "trace-123" {
		t.Errorf("request id echoed = %q / %v, want trace-123", got, res.json(t)["request_id"])
	}
	req.Header.Set(ingress.RequestIDHeader, "bad id\twith junk")
	res = h.do(t, req)
	if got := res.header.Get(ingress.RequestIDHeader); got == "" || strings.ContainsAny(got, " \t") {
		t.Errorf("request id for an unsafe client id = %q, want a fresh one", got)
	}
}

// TestLogsHoldNoSecrets logs at debug level through every outcome and checks
// that no secret, signature or lead e-mail reaches a log line.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{PublishTimeout: time.Second})
	known := example(t, "known")
	good := sign(known, secret1)
	h.post(t, known, good)
	h.post(t, known, sign(known, "wrong"))
	h.post(t, known, "")
	bad := []byte(`{"lead":{"email":"jane.roe@example.com"}}`)
	h.post(t, bad, sign(bad, secret1))
	h.nats.Stop()
	h.post(t, known, good)

	entries := h.logs.All()
	if len(entries) < 5 {
		t.Fatalf("logged %d entries, want one per request", len(entries))
	}
	for _, e := range entries {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + fmt.Sprint(v)
		}
		for _, secret := range []string{secret1, secret2, good, sign(known, "wrong"), sign(bad, secret1), "john.doe@example.com", "jane.roe@example.com"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line %q contains %q", line, secret)
			}
		}
	}
}

func TestRequestIDFromAnUntrustedClientIsReplaced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	req, _ := http.NewRequest(http.MethodGet, h.url+"/healthz", nil)
	req.Header.Set(ingress.RequestIDHeader, "forged-id")
	if got := h.do(t, req).header.Get(ingress.RequestIDHeader); got == "forged-id" || got == "" {
		t.Errorf("request id from an untrusted client = %q, want a fresh one", got)
	}
}
