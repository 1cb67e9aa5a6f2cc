// Package httpserver is the graceful HTTP server of every listener of the
// project's processes, public or admin: bound at once, so an address in use
// or a bad key pair stops the start; served until shut down; shut down
// letting requests in flight finish within a grace period.
package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Config is a server's listener and its limits. Zero timeouts are none.
type Config struct {
	Addr    string
	Handler http.Handler
	// Name names the logger of the server's own errors.
	Name string
	// TLS, when set, serves HTTPS; see KeyPair.
	TLS *tls.Config
	// WrapListener, when set, wraps the bound listener (a connection guard).
	WrapListener func(net.Listener) net.Listener
	// ConnState, when set, follows each connection's state.
	ConnState func(net.Conn, http.ConnState)

	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
	// Grace is how long Shutdown waits for requests in flight.
	Grace time.Duration
}

// KeyPair reads a certificate and its key into a TLS configuration of TLS
// 1.2 or later. It is read before serving, not by ServeTLS in its
// goroutine: a bad pair is a mistake to report at start-up, not a failure
// nobody reads while the process waits for something else.
func KeyPair(certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, nil
}

// Server is an HTTP server serving from the moment Listen returns.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	errc   chan error
	logger *zap.Logger
	grace  time.Duration
	once   sync.Once
	err    error
}

// Listen binds cfg.Addr and serves cfg.Handler on it until Shutdown.
func Listen(cfg Config, logger *zap.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.WrapListener != nil {
		ln = cfg.WrapListener(ln)
	}
	s := &Server{ln: ln, errc: make(chan error, 1), logger: logger, grace: cfg.Grace, srv: &http.Server{
		Handler:           cfg.Handler,
		ConnState:         cfg.ConnState,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          errorLog(logger, cfg.Name),
		TLSConfig:         cfg.TLS,
	}}
	go func() {
		if cfg.TLS != nil {
			s.errc <- s.srv.ServeTLS(ln, "", "") // the pair is in TLSConfig
			return
		}
		s.errc <- s.srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the address bound, with the port chosen for port 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Wait returns when ctx is done (nil) or serving failed.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case err := <-s.errc:
		s.errc <- err
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// Shutdown stops accepting, lets requests in flight finish within the
// grace period, and closes the rest. Only the first call does anything;
// every call returns its error, or the error serving stopped with.
func (s *Server) Shutdown() error {
	s.once.Do(func() {
		s.logger.Info("shutting down", zap.String("addr", s.Addr()), zap.Duration("timeout", s.grace))
		ctx, cancel := context.WithTimeout(context.Background(), s.grace)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			s.srv.Close()
		}
		if serveErr := <-s.errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
			err = serveErr
		}
		if err != nil {
			s.err = fmt.Errorf("shutdown http: %w", err)
		}
	})
	return s.err
}
