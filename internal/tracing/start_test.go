package tracing

import (
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestStart: without an endpoint a command traces nothing and says
// nothing; with one it says where its spans go, and flushes them at exit.
func TestStart(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		endpoint string
		noop     bool
		logged   int
	}{
		{"", true, 0},
		{"http://127.0.0.1:4318", false, 1},
	} {
		core, logs := observer.New(zap.InfoLevel)
		tp, flush, err := Start(t.Context(), tt.endpoint, "test", zap.New(core))
		if err != nil {
			t.Fatalf("Start(%q) = %v, want nil", tt.endpoint, err)
		}
		flush()
		if _, isNoop := tp.(noop.TracerProvider); isNoop != tt.noop {
			t.Errorf("Start(%q) = %T, want a no-op provider: %t", tt.endpoint, tp, tt.noop)
		}
		if got := logs.FilterMessage("tracing").Len(); got != tt.logged {
			t.Errorf("Start(%q) logged %d tracing lines, want %d", tt.endpoint, got, tt.logged)
		}
	}
}
