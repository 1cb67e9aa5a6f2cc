package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/admin"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/connlimit"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

// frontDoor is the public listener's handler. While the bridge starts
// (waiting, maybe, for its broker and stream) it answers GET /healthz 200
// and everything else 503 with Retry-After, so an orchestrator neither
// kills the waiting process nor sends it webhooks; once open, every request
// goes to the ingress handler.
type frontDoor struct {
	next atomic.Pointer[http.Handler]
}

func (f *frontDoor) open(h http.Handler) { f.next.Store(&h) }

func (f *frontDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := f.next.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/healthz" {
		io.WriteString(w, `{"status":"starting"}`+"\n")
		return
	}
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, `{"error":"starting: waiting for the event store"}`+"\n")
}

// publicServer is the webhook listener: bound at once, served until
// shutdown.
type publicServer struct {
	srv    *http.Server
	ln     net.Listener
	errc   chan error
	logger *zap.Logger
	grace  time.Duration
	once   sync.Once
	err    error
}

func listenPublic(cfg config, handler http.Handler, metrics *connlimit.Metrics, logger *zap.Logger) (*publicServer, error) {
	// The key pair is read now, not by ServeTLS in its goroutine: a bad
	// one is a usage error at start-up, not a failure nobody reads while
	// the bridge waits for its broker.
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("%w: --tls-cert, --tls-key: %w", cli.ErrUsage, err)
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	// At a connection bound the connection idle longest, or waiting longest
	// for its headers, makes room; only when every one is serving a request
	// is a new one refused. Peers outside the allow-list are closed at
	// accept, unless a trusted proxy stands in between, when only the
	// request says who the client is.
	allowed := cfg.allowed
	if len(cfg.trusted) > 0 {
		allowed = nil
	}
	conns := connlimit.New(connlimit.Config{MaxConns: cfg.maxConnections, MaxPerClient: cfg.maxConnectionsPerClient,
		Exempt: cfg.trusted, Allow: allowed, Key: ingress.ClientKey, PlainHTTP: cfg.tlsCert == ""}, logger, metrics)
	ln = conns.Listener(ln)
	p := &publicServer{ln: ln, errc: make(chan error, 1), logger: logger, grace: cfg.shutdownTimeout, srv: &http.Server{
		Handler:           handler,
		ConnState:         conns.ConnState,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		// Room for the waits of a webhook: for its turn, for room for its
		// body, and for its ack.
		WriteTimeout:   cfg.readTimeout + 2*cfg.queueTimeout + cfg.publishTimeout + 10*time.Second,
		IdleTimeout:    cfg.idleTimeout,
		MaxHeaderBytes: cfg.maxHeaderBytes,
		ErrorLog:       admin.ErrorLog(logger, "http"),
		TLSConfig:      tlsConfig,
	}}
	go func() {
		if cfg.tlsCert != "" {
			p.errc <- p.srv.ServeTLS(ln, "", "") // the pair is in TLSConfig
			return
		}
		p.errc <- p.srv.Serve(ln)
	}()
	logger.Info("starting", zap.String("addr", ln.Addr().String()))
	return p, nil
}

func (p *publicServer) addr() string { return p.ln.Addr().String() }

// wait returns when ctx is done (nil) or serving failed.
func (p *publicServer) wait(ctx context.Context) error {
	select {
	case err := <-p.errc:
		p.errc <- err
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// shutdown stops accepting, lets requests in flight finish (each answered
// only after its ack) within the grace period, and closes the rest. Only
// the first call does anything.
func (p *publicServer) shutdown() error {
	p.once.Do(func() {
		p.logger.Info("shutting down", zap.Duration("timeout", p.grace))
		ctx, cancel := context.WithTimeout(context.Background(), p.grace)
		defer cancel()
		err := p.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			p.srv.Close()
		}
		if serveErr := <-p.errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
			err = serveErr
		}
		if err != nil {
			p.err = fmt.Errorf("shutdown http: %w", err)
		}
	})
	return p.err
}
