package tracing

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/usage"
)

// Start sets up tracing for a command and returns its provider and a
// function that flushes it, with a fresh timeout, at exit. An endpoint it
// cannot use is a usage error (usage.Err): it comes from --otlp-endpoint.
func Start(ctx context.Context, endpoint, service string, logger *zap.Logger) (trace.TracerProvider, func(), error) {
	tp, shutdown, err := Setup(ctx, endpoint, service)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --otlp-endpoint: %w", usage.Err, err)
	}
	if endpoint != "" {
		logger.Info("tracing", zap.String("otlp_endpoint", endpoint))
	}
	return tp, func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(fctx); err != nil {
			logger.Warn("flushing traces", zap.Error(err))
		}
	}, nil
}
