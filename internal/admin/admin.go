// Package admin is the operators' HTTP listener of a process, kept off any
// public port: liveness and readiness for orchestrators, Prometheus metrics
// and, when asked for, pprof.
package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/httpserver"
)

// ReadyFunc reports whether the process can do its work now.
type ReadyFunc func(ctx context.Context) error

// Option changes what NewServer's handler answers.
type Option func(*options)

type options struct {
	healthy ReadyFunc
	pprof   bool
}

// WithHealth makes GET /healthz answer 503 while healthy reports an error:
// a process that cannot recover by itself, for an orchestrator to restart.
func WithHealth(healthy ReadyFunc) Option {
	return func(o *options) { o.healthy = healthy }
}

// WithPprof serves the Go profiles under /debug/pprof/. They are off
// otherwise: a profile shows the process's memory and command line, and
// /debug/pprof/profile and /trace hold a CPU busy for as long as asked, so
// whoever reaches the admin port should not get them without the operator
// choosing it.
func WithPprof() Option {
	return func(o *options) { o.pprof = true }
}

// readyTimeout bounds a readiness or health check so a probe never hangs.
const readyTimeout = 2 * time.Second

// NewServer returns the admin handler: GET /healthz answers 200 while the
// process runs (and WithHealth's check passes), GET /readyz 200 when ready
// says so and 503 otherwise, GET /metrics the metrics of metrics, and with
// WithPprof /debug/pprof/ the Go profiles.
func NewServer(ready ReadyFunc, metrics prometheus.Gatherer, opts ...Option) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	r := mux.NewRouter()
	r.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})).Methods(http.MethodGet)
	if o.pprof {
		r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		r.HandleFunc("/debug/pprof/profile", pprof.Profile)
		r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		r.HandleFunc("/debug/pprof/trace", pprof.Trace)
		r.PathPrefix("/debug/pprof/").HandlerFunc(pprof.Index)
	}
	r.Handle("/healthz", Probe(o.healthy, "ok", "unhealthy", nil)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", Probe(ready, "ready", "unavailable", nil)).Methods(http.MethodGet, http.MethodHead)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint"})
	})
	return r
}

// Probe answers a health or readiness check: 200 with {"status": ok}
// while check passes (a nil check always does), and 503 with {"status":
// bad} and the reason otherwise, after failed, when set, has added its
// part (a header, a field of the request's log line). The public listener
// and the admin one answer through it alike.
func Probe(check ReadyFunc, ok, bad string, failed func(http.ResponseWriter, *http.Request, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if check != nil {
			ctx, cancel := context.WithTimeout(req.Context(), readyTimeout)
			defer cancel()
			if err := check(ctx); err != nil {
				if failed != nil {
					failed(w, req, err)
				}
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": bad, "error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": ok})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Serve binds addr, then serves handler until ctx is done and shuts down
// with a fresh timeout. It returns once the listener is bound, reporting a
// bind error; serving errors are logged. stopped closes once the shutdown
// is over, its connections closed.
func Serve(ctx context.Context, addr string, handler http.Handler, logger *zap.Logger) (stopped <-chan struct{}, err error) {
	srv, err := httpserver.Listen(httpserver.Config{Addr: addr, Handler: handler, Name: "admin",
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		Grace: 5 * time.Second}, logger)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Wait(ctx) // Shutdown returns a serving error too
		if err := srv.Shutdown(); err != nil {
			logger.Error("admin listener", zap.Error(err))
		}
	}()
	logger.Info("admin listening", zap.String("addr", srv.Addr()))
	return done, nil
}

// NewRegistry returns a registry of the process's own, with the Go
// runtime's and the process's collectors: no global state.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
