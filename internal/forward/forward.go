// Package forward delivers CloudEvents to an HTTP endpoint (a CRM, a
// Zapier or Make hook, an internal service) with the CloudEvents HTTP
// binding, an Idempotency-Key, and optionally a Standard Webhooks signature,
// and sorts the endpoint's answer into done, retry later, or give up.
package forward

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/tracing"
)

// Headers of a delivery besides the CloudEvents ones. The signature headers
// follow the Standard Webhooks specification, so receivers can verify them
// with its libraries.
const (
	IdempotencyKeyHeader   = "Idempotency-Key"
	WebhookIDHeader        = "Webhook-Id"
	WebhookTimestampHeader = "Webhook-Timestamp"
	WebhookSignatureHeader = "Webhook-Signature"
)

// Modes of the CloudEvents HTTP binding.
const (
	Binary     = "binary"
	Structured = "structured"
)

// Target is an HTTP endpoint that receives events.
type Target struct {
	url    string
	mode   string
	secret []byte
	client *http.Client
	now    func() time.Time
	tracer trace.Tracer
}

// NewTarget returns a target at url in the given mode. secret, when not
// empty, signs every delivery; a "whsec_" secret is base64 after the prefix,
// as Standard Webhooks issues them. client should have a timeout.
func NewTarget(url, mode, secret string, client *http.Client) (*Target, error) {
	if mode != Binary && mode != Structured {
		return nil, fmt.Errorf("mode %q: want %s or %s", mode, Binary, Structured)
	}
	key := []byte(secret)
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("target secret: whsec_ secret is not base64: %w", err)
		}
		key = k
	}
	// Redirects are not followed: a POST turned into a GET loses the event,
	// and a moved endpoint is a configuration to fix.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Target{url: url, mode: mode, secret: key, client: &c, now: time.Now, tracer: noop.NewTracerProvider().Tracer("")}, nil
}

// WithTracer makes the target trace each delivery and pass the trace on
// to the endpoint (traceparent, and the event's ce-traceparent).
func (t *Target) WithTracer(tr trace.Tracer) *Target {
	t.tracer = tr
	return t
}

// Deliver POSTs e. It returns nil on a 2xx; an error wrapping
// consume.ErrPermanent for an answer that retrying cannot change (a 4xx
// other than 408 and 429, or a redirect); and a retryable error otherwise,
// carrying the target's Retry-After when it gave one.
func (t *Target) Deliver(ctx context.Context, e event.Event) error {
	ctx, span := t.tracer.Start(ctx, "POST target", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	if sc := span.SpanContext(); sc.IsValid() {
		// The event's tracing extension names the delivery's span now (on
		// a copy: the caller's event stays as it was).
		e = e.Clone()
		carrier := propagation.MapCarrier{}
		tracing.Propagator().Inject(ctx, carrier)
		for _, k := range tracing.Propagator().Fields() {
			if v, ok := carrier[k]; ok {
				e.SetExtension(k, v)
			} else {
				e.SetExtension(k, nil) // no stale tracestate from the bridge's span
			}
		}
	}
	err := t.deliver(ctx, e)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

func (t *Target) deliver(ctx context.Context, e event.Event) error {
	req, err := t.request(ctx, e)
	if err != nil {
		return consume.Permanent(err)
	}
	res, err := t.client.Do(req)
	if err != nil {
		// The error names the URL, whose query or user part may hold the
		// hook's key; it ends up in logs and dead letters.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = RedactURL(ue.URL)
		}
		return fmt.Errorf("deliver %s: %w", e.ID(), err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return classify(res, t.now())
}

func (t *Target) request(ctx context.Context, e event.Event) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, nil)
	if err != nil {
		return nil, fmt.Errorf("target url: %w", err)
	}
	wctx := binding.WithForceBinary(ctx)
	if t.mode == Structured {
		wctx = binding.WithForceStructured(ctx)
	}
	if err := cehttp.WriteRequest(wctx, binding.ToMessage(&e), req); err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	// The SDK writes attribute values as they are; the binding wants them
	// percent-encoded.
	for k, vs := range req.Header {
		if strings.HasPrefix(strings.ToLower(k), cloudevent.HeaderPrefix) {
			for i, v := range vs {
				vs[i] = cloudevent.EncodeValue(v)
			}
		}
	}
	req.Header.Set(IdempotencyKeyHeader, e.ID())
	tracing.Propagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	if len(t.secret) > 0 {
		body, err := readBody(req)
		if err != nil {
			return nil, err
		}
		t.sign(req.Header, e.ID(), body)
	}
	return req, nil
}

// sign adds Standard Webhooks headers: an HMAC-SHA256 of "id.timestamp.body".
func (t *Target) sign(h http.Header, id string, body []byte) {
	ts := strconv.FormatInt(t.now().Unix(), 10)
	h.Set(WebhookIDHeader, id)
	h.Set(WebhookTimestampHeader, ts)
	h.Set(WebhookSignatureHeader, "v1,"+Signature(t.secret, id, ts, body))
}

// RedactURL hides a URL's password and query, where hooks often carry
// their key, so it can be logged.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.Redacted()
}

// Signature is the Standard Webhooks signature of a delivery: base64 of
// HMAC-SHA256(key, id + "." + timestamp + "." + body).
func Signature(key []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.", id, timestamp)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func readBody(req *http.Request) ([]byte, error) {
	if req.GetBody == nil {
		return nil, nil
	}
	r, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(r)
	return b.Bytes(), err
}

// classify sorts an answer: 2xx done; 408, 429 and 5xx retry (after
// Retry-After when given); anything else, permanent.
func classify(res *http.Response, now time.Time) error {
	code := res.StatusCode
	err := fmt.Errorf("target answered %s", res.Status)
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		if d, ok := retryAfter(res.Header.Get("Retry-After"), now); ok {
			return consume.RetryAfter(err, d)
		}
		return err
	default:
		return consume.Permanent(err)
	}
}

// retryAfter reads a Retry-After value: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
