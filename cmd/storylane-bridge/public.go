package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/connlimit"
	"github.com/storylane-bridge/storylane-bridge/internal/httpserver"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

// listenPublic binds the webhook listener behind its connection guard.
func listenPublic(cfg config, handler http.Handler, metrics *connlimit.Metrics, logger *zap.Logger) (*httpserver.Server, error) {
	var tlsConfig *tls.Config
	if cfg.tlsCert != "" {
		var err error
		if tlsConfig, err = httpserver.KeyPair(cfg.tlsCert, cfg.tlsKey); err != nil {
			return nil, fmt.Errorf("%w: --tls-cert, --tls-key: %w", cli.ErrUsage, err)
		}
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
	srv, err := httpserver.Listen(httpserver.Config{Addr: cfg.listen, Handler: handler, Name: "http", TLS: tlsConfig,
		WrapListener: conns.Listener, ConnState: conns.ConnState,
		ReadHeaderTimeout: cfg.readHeaderTimeout, ReadTimeout: cfg.readTimeout,
		// Room for the waits of a webhook: for its turn, for room for its
		// body, and for its ack.
		WriteTimeout: cfg.readTimeout + 2*cfg.queueTimeout + cfg.publishTimeout + 10*time.Second,
		IdleTimeout:  cfg.idleTimeout, MaxHeaderBytes: cfg.maxHeaderBytes, Grace: cfg.shutdownTimeout,
	}, logger)
	if err != nil {
		return nil, err
	}
	logger.Info("starting", zap.String("addr", srv.Addr()))
	return srv, nil
}
