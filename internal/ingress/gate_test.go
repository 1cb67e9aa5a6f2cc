package ingress_test

import (
	"net/http"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

// TestGateWhileStarting: before it opens, the gate answers GET and HEAD
// /healthz 200 (other methods 405, as once open), so
// an orchestrator does not kill a process waiting for its broker, and
// everything else 503 with Retry-After, so none sends it webhooks; once
// open, the server's routes answer.
func TestGateWhileStarting(t *testing.T) {
	t.Parallel()
	h, srv := newUnserved(t, ingress.Config{}, ingress.Deps{})
	gate := ingress.NewGate()
	h.serve(t, gate)
	tests := []struct {
		method, path string
		status       int
		retryAfter   string
		want         map[string]any
		allow        string
	}{
		{http.MethodGet, "/healthz", http.StatusOK, "", map[string]any{"status": "starting"}, ""},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "", map[string]any{"error": "method not allowed"}, "GET, HEAD"},
		{http.MethodDelete, "/healthz", http.StatusMethodNotAllowed, "", map[string]any{"error": "method not allowed"}, "GET, HEAD"},
		{http.MethodGet, "/readyz", http.StatusServiceUnavailable, "5", map[string]any{"error": "starting: waiting for the event store"}, ""},
		{http.MethodPost, ingress.WebhookPath, http.StatusServiceUnavailable, "5", map[string]any{"error": "starting: waiting for the event store"}, ""},
		{http.MethodGet, "/", http.StatusServiceUnavailable, "5", map[string]any{"error": "starting: waiting for the event store"}, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, h.url+tt.path, nil)
		res := h.do(t, req)
		if res.status != tt.status || res.header.Get("Retry-After") != tt.retryAfter || res.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s while starting = %d, Retry-After %q, %q; want %d, %q, application/json", tt.method, tt.path,
				res.status, res.header.Get("Retry-After"), res.header.Get("Content-Type"), tt.status, tt.retryAfter)
		}
		if got := res.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s while starting: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
		got := res.json(t)
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s %s while starting = %v, want %s %v", tt.method, tt.path, got, k, v)
			}
		}
	}
	head, _ := http.NewRequest(http.MethodHead, h.url+"/healthz", nil)
	if res := h.do(t, head); res.status != http.StatusOK {
		t.Errorf("HEAD /healthz while starting = %d, want 200", res.status)
	}
	gate.Open(srv)
	if res := h.get(t, "/readyz"); res.status != http.StatusOK || res.json(t)["status"] != "ready" {
		t.Errorf("GET /readyz once open = %d %s, want 200 ready", res.status, res.body)
	}
	if res := h.get(t, "/healthz"); res.status != http.StatusOK || res.json(t)["status"] != "ok" {
		t.Errorf("GET /healthz once open = %d %s, want 200 ok", res.status, res.body)
	}
}
