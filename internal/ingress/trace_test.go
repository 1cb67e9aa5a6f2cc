package ingress_test

import (
	"bytes"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

// TestTraceContextOnlyFromTrustedProxies: the signature does not cover
// traceparent and tracestate, so a webhook continues the sender's trace
// only from a trusted proxy, as X-Request-Id is taken; from anyone else it
// starts a trace of its own and the event carries no tracestate.
func TestTraceContextOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	const traceID, parentID, state = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "forged=1"
	tests := []struct {
		name    string
		trusted []netip.Prefix
		follow  bool
	}{
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, true},
		{"untrusted sender", nil, false},
		{"another proxy trusted", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp := sdktrace.NewTracerProvider()
			t.Cleanup(func() { tp.Shutdown(t.Context()) })
			h := newHarnessWith(t, ingress.Config{TrustedProxies: tt.trusted}, ingress.Deps{Tracer: tp.Tracer("test")})
			body := example(t, "known")
			req, _ := http.NewRequest(http.MethodPost, h.url+ingress.WebhookPath, bytes.NewReader(body))
			req.Header.Set("x-storylane-signature", sign(body, secret1))
			req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
			req.Header.Set("tracestate", state)
			if res := h.do(t, req); res.status != http.StatusOK {
				t.Fatalf("POST with a trace context = %d %s, want 200", res.status, res.body)
			}
			msgs := h.messages(t)
			if len(msgs) != 1 {
				t.Fatalf("stream holds %d messages, want 1", len(msgs))
			}
			parent, tracestate := msgs[0].Header.Get("ce-traceparent"), msgs[0].Header.Get("ce-tracestate")
			if parts := strings.Split(parent, "-"); len(parts) != 4 || parts[1] == "00000000000000000000000000000000" {
				t.Fatalf("event ce-traceparent = %q, want a trace", parent)
			}
			if follows := strings.Contains(parent, traceID); follows != tt.follow {
				t.Errorf("event ce-traceparent = %q; in the sender's trace %t, want %t", parent, follows, tt.follow)
			}
			if want := map[bool]string{true: state, false: ""}[tt.follow]; tracestate != want {
				t.Errorf("event ce-tracestate = %q, want %q", tracestate, want)
			}
		})
	}
}
