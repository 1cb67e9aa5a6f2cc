package ingress_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func TestAllowList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	body := example(t, "known")
	if res := h.post(t, body, sign(body, secret1)); res.status != http.StatusForbidden {
		t.Errorf("POST from 127.0.0.1 with an allow-list of 192.0.2.0/24 = %d, want 403", res.status)
	}
	h2 := newHarness(t, ingress.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if res := h2.post(t, body, sign(body, secret1)); res.status != http.StatusOK {
		t.Errorf("POST from an allowed address = %d, want 200", res.status)
	}
	if n := len(h.messages(t)); n != 0 {
		t.Errorf("%d messages stored from a forbidden address, want 0", n)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{RateLimit: 1, RateBurst: 3,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	send := func(client string, i int) response {
		body := []byte(fmt.Sprintf(`{"id":"rate-%s-%d"}`, client, i))
		req, _ := http.NewRequest(http.MethodPost, h.url+ingress.WebhookPath, bytes.NewReader(body))
		req.Header.Set("x-storylane-signature", sign(body, secret1))
		req.Header.Set("X-Forwarded-For", client)
		return h.do(t, req)
	}
	var limited response
	for i := range 6 {
		if res := send("198.51.100.1", i); res.status == http.StatusTooManyRequests {
			limited = res
		}
	}
	if limited.status != http.StatusTooManyRequests || limited.header.Get("Retry-After") == "" {
		t.Fatalf("6 webhooks at once from one client with a burst of 3: last limited answer %d, Retry-After %q, want 429 with Retry-After",
			limited.status, limited.header.Get("Retry-After"))
	}
	if res := send("198.51.100.2", 0); res.status != http.StatusOK {
		t.Errorf("another client behind the same proxy = %d, want 200", res.status)
	}
	if n := len(h.messages(t)); n != 4 {
		t.Errorf("%d stored, want the 3 within the burst and the other client's", n)
	}
}

// TestShedsBeyondMaxConcurrentPerClient holds a webhook mid-body so the
// client's only slot is taken, and checks its next is answered 503 once its
// wait is over, with the bound in the log line.
func TestShedsBeyondMaxConcurrentPerClient(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, ingress.Config{MaxConcurrentPerClient: 1, QueueTimeout: 50 * time.Millisecond}, ingress.NewMetrics(reg))
	done := holdSlowBody(t, h, reg)
	body := example(t, "known")
	res := h.post(t, body, sign(body, secret1))
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Errorf("POST while the client's only slot is busy = %d (Retry-After %q), want 503 with Retry-After", res.status, res.header.Get("Retry-After"))
	}
	if n := h.logs.FilterField(zap.String("refused_by", "max-concurrent-per-client")).Len(); n != 1 {
		t.Errorf("%d log lines say refused_by max-concurrent-per-client, want 1", n)
	}
	done()
	// The server frees the slot once its handler has seen the body fail.
	var last int
	poll.Within(5*time.Second, func() bool {
		last = h.post(t, body, sign(body, secret1)).status
		return last == http.StatusOK
	})
	if last != http.StatusOK {
		t.Errorf("POST once the slot is free = %d, want 200", last)
	}
}

// TestUnsignedBodiesHoldNoSlotOfAll: requests nobody signed, stalled
// mid-body, do not take the slots of --max-concurrent, which only
// verified webhooks hold.
func TestUnsignedBodiesHoldNoSlotOfAll(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, ingress.Config{MaxConcurrent: 1, QueueTimeout: 50 * time.Millisecond}, ingress.NewMetrics(reg))
	done := holdSlowBody(t, h, reg)
	defer done()
	body := example(t, "known")
	if res := h.post(t, body, sign(body, secret1)); res.status != http.StatusOK {
		t.Errorf("a signed POST while an unsigned body stalls = %d, want 200", res.status)
	}
}

// holdSlowBody starts a webhook whose body stalls after a byte, and returns
// once the server is handling it (reg holds its metrics); the function
// returned ends it.
func holdSlowBody(t *testing.T, h *harness, reg *prometheus.Registry) func() {
	t.Helper()
	pr, pw := newSlowBody()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, h.url+ingress.WebhookPath, pr)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err // the body ends in an error: the client went away
	}()
	pw.waitRead()
	poll.Eventually(t, "the stalled webhook reached the handler", 5*time.Second, func() bool { return inFlight(t, reg) >= 1 })
	return func() {
		pw.finish()
		<-done
	}
}

// slowBody is a request body that sends its first byte, then waits.
type slowBody struct {
	once     sync.Once
	read     chan struct{}
	released chan struct{}
	sent     bool
}

func newSlowBody() (*slowBody, *slowBody) {
	b := &slowBody{read: make(chan struct{}), released: make(chan struct{})}
	return b, b
}

func (b *slowBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		p[0] = '{'
		return 1, nil
	}
	b.once.Do(func() { close(b.read) })
	<-b.released
	return 0, fmt.Errorf("client went away")
}

func (b *slowBody) waitRead() { <-b.read }
func (b *slowBody) finish()   { close(b.released) }

func TestMetricsCountOutcomes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, ingress.Config{}, ingress.NewMetrics(reg))
	known := example(t, "known")
	h.post(t, known, sign(known, secret2))
	h.post(t, known, sign(known, secret1))
	h.post(t, known, "")
	h.post(t, known, "AAAA")
	h.post(t, known, sign(known, "wrong"))
	h.post(t, []byte("not json"), sign([]byte("not json"), secret1))
	want := `
# HELP storylane_bridge_webhooks_total Webhooks by outcome: stored, duplicate, invalid (kept on storylane.invalid), unavailable, broker_too_large (after the signature check); unauthorized, too_large, shed, rate_limited, forbidden, bad_request (before it).
# TYPE storylane_bridge_webhooks_total counter
storylane_bridge_webhooks_total{outcome="bad_request"} 0
storylane_bridge_webhooks_total{outcome="broker_too_large"} 0
storylane_bridge_webhooks_total{outcome="duplicate"} 1
storylane_bridge_webhooks_total{outcome="forbidden"} 0
storylane_bridge_webhooks_total{outcome="invalid"} 1
storylane_bridge_webhooks_total{outcome="rate_limited"} 0
storylane_bridge_webhooks_total{outcome="shed"} 0
storylane_bridge_webhooks_total{outcome="stored"} 1
storylane_bridge_webhooks_total{outcome="too_large"} 0
storylane_bridge_webhooks_total{outcome="unauthorized"} 3
storylane_bridge_webhooks_total{outcome="unavailable"} 0
# HELP storylane_bridge_signature_failures_total Webhooks refused for their x-storylane-signature, by reason: missing, malformed, mismatch.
# TYPE storylane_bridge_signature_failures_total counter
storylane_bridge_signature_failures_total{reason="malformed"} 1
storylane_bridge_signature_failures_total{reason="mismatch"} 1
storylane_bridge_signature_failures_total{reason="missing"} 1
# HELP storylane_bridge_signature_key_matches_total Verified webhooks by the position of the secret that matched (0 is the first configured); never the secret.
# TYPE storylane_bridge_signature_key_matches_total counter
storylane_bridge_signature_key_matches_total{key="0"} 2
storylane_bridge_signature_key_matches_total{key="1"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "storylane_bridge_webhooks_total",
		"storylane_bridge_signature_failures_total", "storylane_bridge_signature_key_matches_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "storylane_bridge_publish_duration_seconds"); n != 1 {
		t.Errorf("publish duration histogram: %d series, want 1", n)
	}
}

// TestRejectionsAreLoggedAtABoundedRate floods bad signatures and checks
// the log keeps up to a burst of lines and says how many it left out.
func TestRejectionsAreLoggedAtABoundedRate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	body := example(t, "known")
	for range 200 {
		h.post(t, body, sign(body, "attacker"))
	}
	h.post(t, body, sign(body, secret1))
	lines := h.logs.FilterMessage("request").All()
	if len(lines) > 60 {
		t.Errorf("%d log lines for 200 rejected webhooks, want them rate-limited", len(lines))
	}
	last := lines[len(lines)-1].ContextMap()
	if last["status"] != int64(200) {
		t.Errorf("the accepted webhook's line is missing: last line %v", last)
	}
	found := false
	for _, l := range lines {
		if n, ok := l.ContextMap()["rejections_not_logged"].(int64); ok && n > 0 {
			found = true
		}
	}
	if !found && len(lines) < 201 {
		t.Error("no log line says how many rejections were not logged")
	}
}

// TestUntrustedForwardedForIsReportedOnce: a peer outside --trusted-proxies
// that sends X-Forwarded-For is likely a proxy someone forgot to trust; the
// first such request is logged, every one counted, and the header ignored.
func TestUntrustedForwardedForIsReportedOnce(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, ingress.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, ingress.NewMetrics(reg))
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, h.url+"/healthz", nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		h.do(t, req)
	}
	h.get(t, "/healthz")
	if n := h.logs.FilterMessageSnippet("X-Forwarded-For from a peer not in --trusted-proxies").Len(); n != 1 {
		t.Errorf("%d warnings about an untrusted X-Forwarded-For, want 1", n)
	}
	if n := h.logs.FilterField(zap.String("client", "198.51.100.7")).Len(); n != 0 {
		t.Errorf("%d lines name the forwarded address as the client, want 0: the header is not trusted", n)
	}
	want := `
# HELP storylane_bridge_untrusted_forwarded_requests_total Requests with X-Forwarded-For from a peer outside --trusted-proxies, whose header is ignored: a proxy in front that is not trusted is a likely misconfiguration.
# TYPE storylane_bridge_untrusted_forwarded_requests_total counter
storylane_bridge_untrusted_forwarded_requests_total 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "storylane_bridge_untrusted_forwarded_requests_total"); err != nil {
		t.Error(err)
	}
}

// TestLargeBodiesWithinTheByteBudget: a body past the 8 KiB head is read
// through the budget, stored, and past --max-body refused; one that finds
// the budget held by a stalled body is shed, and says why.
func TestLargeBodiesWithinTheByteBudget(t *testing.T) {
	t.Parallel()
	const limit = 16 << 10
	h := newHarness(t, ingress.Config{MaxBody: limit, MaxBufferedBytes: limit + 1, QueueTimeout: 50 * time.Millisecond,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}) // clients named by X-Forwarded-For
	large := []byte(fmt.Sprintf(`{"id":"large","pad":%q}`, strings.Repeat("x", 12<<10)))
	if res := h.post(t, large, sign(large, secret1)); res.status != http.StatusOK {
		t.Fatalf("POST of a %d-byte body = %d %s, want 200", len(large), res.status, res.body)
	}
	tooLarge := bytes.Repeat([]byte("x"), limit+1)
	req, _ := http.NewRequest(http.MethodPost, h.url+ingress.WebhookPath, io.MultiReader(bytes.NewReader(tooLarge))) // chunked
	if res := h.do(t, req); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked POST of %d bytes past the head, limit %d = %d, want 413", len(tooLarge), limit, res.status)
	}
	// A body that announces the limit, sends past the head and stalls,
	// holds the whole budget: another client's large body waits, then is
	// shed.
	stall := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		body := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), 9<<10)), stalled(stall))
		req, _ := http.NewRequest(http.MethodPost, h.url+ingress.WebhookPath, body)
		req.ContentLength = limit
		req.Header.Set("X-Forwarded-For", "198.51.100.1")
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	var res response
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodPost, h.url+ingress.WebhookPath, bytes.NewReader(large))
		req.Header.Set("x-storylane-signature", sign(large, secret1))
		req.Header.Set("X-Forwarded-For", "198.51.100.2") // another client: not its share, the budget
		if res = h.do(t, req); res.status == http.StatusServiceUnavailable {
			break
		}
	}
	close(stall)
	<-done
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Errorf("POST of a large body with the budget held = %d, want 503 with Retry-After", res.status)
	}
	if n := h.logs.FilterField(zap.String("refused_by", "max-buffered-bytes")).Len(); n == 0 {
		t.Error("no log line says refused_by max-buffered-bytes")
	}
}

// stalled is a body part that blocks until its channel is closed, then
// fails as a client that went away.
type stalled chan struct{}

func (s stalled) Read([]byte) (int, error) {
	<-s
	return 0, fmt.Errorf("client went away")
}

// inFlight reads storylane_bridge_in_flight_requests from reg.
func inFlight(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "storylane_bridge_in_flight_requests" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}
