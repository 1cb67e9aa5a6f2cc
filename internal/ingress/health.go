package ingress

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/admin"
)

// HealthChecker reports a process that cannot recover by itself, so that
// an orchestrator restarts it.
type HealthChecker interface {
	Healthy(ctx context.Context) error
}

func (s *Server) handleHealthz() http.HandlerFunc {
	var check admin.ReadyFunc
	if s.health != nil {
		check = s.health.Healthy
	}
	return admin.Probe(check, "ok", "unhealthy", func(_ http.ResponseWriter, r *http.Request, err error) {
		annotate(r, zap.NamedError("unhealthy", err))
	})
}

func (s *Server) handleReadyz() http.HandlerFunc {
	return admin.Probe(s.ready.Ready, "ready", "unavailable", func(w http.ResponseWriter, r *http.Request, err error) {
		annotate(r, zap.NamedError("not_ready", err))
		w.Header().Set("Retry-After", retryAfter)
	})
}
