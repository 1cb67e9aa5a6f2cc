package tracing

import "testing"

func TestTracesURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://otel-collector:4318":          "http://otel-collector:4318/v1/traces",
		"http://otel-collector:4318/":         "http://otel-collector:4318/v1/traces",
		"https://collector.example/v1/traces": "https://collector.example/v1/traces",
		"https://gateway.example/otlp/traces": "https://gateway.example/otlp/traces",
	} {
		if got := tracesURL(in); got != want {
			t.Errorf("tracesURL(%q) = %q, want %q", in, got, want)
		}
	}
}
