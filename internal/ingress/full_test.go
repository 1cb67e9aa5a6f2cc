package ingress_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

// TestFullStreamAnswers503: a stream at its byte limit with discard new (an
// edge whose backlog used up its budget while the hub is away) refuses an
// event with JetStream error 10077; the webhook gets 503 with Retry-After,
// never a 2xx for an event not stored, and once there is room again it is
// taken.
func TestFullStreamAnswers503(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{PublishTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, "STORYLANE")
	if err != nil {
		t.Fatal(err)
	}
	sc := s.CachedInfo().Config
	sc.MaxBytes, sc.Discard = 4<<10, jetstream.DiscardNew // room for one small event and its headers
	if _, err := h.js.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	var full response
	stored := 0
	for i := range 20 {
		body := []byte(fmt.Sprintf(`{"id":"full-%d","lead":null}`, i))
		if full = h.post(t, body, sign(body, secret1)); full.status != http.StatusOK {
			break
		}
		stored++
	}
	if full.status != http.StatusServiceUnavailable || full.header.Get("Retry-After") == "" || full.json(t)["error"] != "event store full, retry later" {
		t.Fatalf("POST to a full stream = %d (Retry-After %q) %s, want 503 event store full with Retry-After", full.status, full.header.Get("Retry-After"), full.body)
	}
	if got := len(h.messages(t)); stored == 0 || got != stored {
		t.Errorf("stream holds %d events after %d answered 200, want as many (and at least one)", got, stored)
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"full-after-room","lead":null}`)
	if res := h.post(t, body, sign(body, secret1)); res.status != http.StatusOK {
		t.Errorf("POST once the stream has room = %d %s, want 200", res.status, res.body)
	}
}
