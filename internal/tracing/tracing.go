// Package tracing sets up OpenTelemetry tracing, off unless an OTLP
// endpoint is configured, and carries trace context across NATS messages
// as the CloudEvents distributed-tracing extension (ce-traceparent,
// ce-tracestate).
package tracing

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
)

// Setup returns the tracer provider of a program: spans exported over
// OTLP/HTTP to endpoint (e.g. http://otel-collector:4318) when it is set,
// and a no-op provider otherwise. shutdown flushes what is buffered.
func Setup(ctx context.Context, endpoint, service string) (trace.TracerProvider, func(context.Context) error, error) {
	if endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(tracesURL(endpoint)))
	if err != nil {
		return nil, nil, fmt.Errorf("otlp exporter for %s: %w", endpoint, err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(resource(service)),
	)
	return tp, tp.Shutdown, nil
}

// tracesURL adds the OTLP traces path to an endpoint given without one, as
// OTEL_EXPORTER_OTLP_ENDPOINT means it (http://collector:4318 sends to
// http://collector:4318/v1/traces).
func tracesURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint
	}
	u.Path = "/v1/traces"
	return u.String()
}

// Propagator is the W3C trace-context propagator, for HTTP headers.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Inject writes the trace context of ctx into a NATS message's headers as
// the CloudEvents distributed-tracing extension.
func Inject(ctx context.Context, h nats.Header) {
	Propagator().Inject(ctx, ceCarrier(h))
}

// Extract reads the trace context a message carries into ctx.
func Extract(ctx context.Context, h nats.Header) context.Context {
	return Propagator().Extract(ctx, ceCarrier(h))
}

// ceCarrier maps trace-context keys to ce- headers, values percent-encoded
// as the CloudEvents NATS binding requires.
type ceCarrier nats.Header

func (c ceCarrier) Get(key string) string {
	v := nats.Header(c).Get(cloudevent.HeaderPrefix + key)
	if d, err := cloudevent.DecodeValue(v); err == nil {
		return d
	}
	return ""
}

func (c ceCarrier) Set(key, value string) {
	nats.Header(c).Set(cloudevent.HeaderPrefix+key, cloudevent.EncodeValue(value))
}

func (c ceCarrier) Keys() []string {
	var out []string
	for k := range c {
		if name, ok := strings.CutPrefix(k, cloudevent.HeaderPrefix); ok && name != "" {
			out = append(out, name)
		}
	}
	return out
}

// EventID is the attribute naming an event in spans.
func EventID(id string) attribute.KeyValue { return attribute.String("cloudevents.event_id", id) }
