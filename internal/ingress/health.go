package ingress

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// HealthChecker reports a process that cannot recover by itself, so that
// an orchestrator restarts it.
type HealthChecker interface {
	Healthy(ctx context.Context) error
}

// readyTimeout bounds a readiness or health check so a probe never hangs.
const readyTimeout = 2 * time.Second

func (s *Server) handleHealthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.health != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			if err := s.health.Healthy(ctx); err != nil {
				annotate(r, zap.NamedError("unhealthy", err))
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

func (s *Server) handleReadyz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.ready.Ready(ctx); err != nil {
			annotate(r, zap.NamedError("not_ready", err))
			w.Header().Set("Retry-After", retryAfter)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}
