package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

// headerRoom is what a message needs beyond its body for the CloudEvents
// headers, so the broker's maximum payload must exceed --max-body by it.
const headerRoom = 64 << 10

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	keys, err := loadKeyring(cfg.secretFile, getenv)
	if err != nil {
		return err
	}
	logger, err := cli.NewLogger(cfg.log, stdout)
	if err != nil {
		return err
	}
	defer logger.Sync()
	validator, err := schemas.NewValidator()
	if err != nil {
		return err
	}
	nc, closeBroker, err := openBroker(cfg, logger)
	if err != nil {
		return err
	}
	defer closeBroker()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := ensureStream(ctx, js, cfg, logger); err != nil {
		return err
	}
	maxBody := cfg.maxBody
	if limit := nc.MaxPayload() - headerRoom; limit < maxBody {
		// Checked before reading a body, so a webhook too large for the
		// broker is refused at once rather than after its signature.
		maxBody = max(limit, 1)
		logger.Warn("the broker's max_payload is below --max-body plus room for headers: webhooks over max_body get 413; raise max_payload on the server",
			zap.Int64("max_payload", nc.MaxPayload()), zap.Int64("max_body", maxBody))
	}
	pub := broker.NewPublisher(js, cfg.stream.Name)
	handler := ingress.NewServer(ingress.Config{
		MaxBody:        maxBody,
		PublishTimeout: cfg.publishTimeout,
		Origin:         cloudevent.Origin{Source: cfg.source, DataSchema: schemas.SessionSchemaID},
		Subjects:       cfg.stream.Subjects,
	}, logger, keys, validator, pub, pub)
	logger.Info("webhook secrets loaded", zap.Int("count", keys.Len()))
	return serve(ctx, cfg, handler, logger)
}

// openBroker starts the embedded server and connects to it in-process, or
// connects to the external servers. The returned function drains the
// connection and stops the embedded server.
func openBroker(cfg config, logger *zap.Logger) (*nats.Conn, func(), error) {
	if cfg.nats.URL != "" {
		nc, err := broker.Connect(cfg.nats, logger)
		if err != nil {
			return nil, nil, err
		}
		logger.Info("using external nats", zap.String("url", broker.RedactURLs(cfg.nats.URL)))
		return nc, func() { drain(nc, logger) }, nil
	}
	syncInterval, syncAlways, _ := cfg.sync() // validated with the config
	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{
		Listen:       cfg.natsListen,
		DataDir:      cfg.dataDir,
		MaxPayload:   int32(max(cfg.maxBody+headerRoom, 1<<20)),
		SyncInterval: syncInterval,
		SyncAlways:   syncAlways,
	}, logger)
	if err != nil {
		return nil, nil, err
	}
	stop := func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
	nc, err := broker.ConnectInProcess(ns, cfg.nats.Name, logger)
	if err != nil {
		stop()
		return nil, nil, err
	}
	url := broker.NoListen
	if ns.Addr() != nil {
		url = ns.ClientURL()
	}
	logger.Info("embedded nats started", zap.String("client_url", url), zap.String("data_dir", cfg.dataDir))
	return nc, func() {
		drain(nc, logger)
		stop()
		logger.Info("embedded nats stopped")
	}, nil
}

// drainTimeout bounds the wait for a draining connection to close.
const drainTimeout = 10 * time.Second

func drain(nc *nats.Conn, logger *zap.Logger) {
	if err := broker.Drain(nc, drainTimeout); err != nil {
		logger.Warn("nats drain", zap.Error(err))
	}
}

// ensureStream creates or updates the stream. Against an external broker it
// waits for the broker instead of failing, so the bridge may start first.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg config, logger *zap.Logger) error {
	var info *jetstream.StreamInfo
	ensure := func(ctx context.Context) (err error) {
		info, err = broker.EnsureStream(ctx, js, cfg.stream)
		return err
	}
	var err error
	if cfg.nats.URL == "" {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = ensure(attempt)
		cancel()
	} else {
		err = cli.Await(ctx, logger, "the stream", ensure)
	}
	if err != nil {
		return err
	}
	logger.Info("stream ready", zap.String("stream", info.Config.Name), zap.Strings("subjects", info.Config.Subjects),
		zap.Uint64("messages", info.State.Msgs), zap.Duration("duplicate_window", info.Config.Duplicates))
	return nil
}

// serve answers HTTP until ctx is done, then shuts down: it stops accepting,
// lets requests in flight finish (each is answered only after its ack),
// and returns.
func serve(ctx context.Context, cfg config, handler http.Handler, logger *zap.Logger) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.publishTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          zap.NewStdLog(logger.Named("http")),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("webhook_path", ingress.WebhookPath))
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", zap.Duration("timeout", cfg.shutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		srv.Close()
	}
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("shutdown http: %w", err)
	}
	return nil
}
