package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/admin"
	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/connlimit"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
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
	secrets, seen, err := loadKeyring(cfg.secretFile, getenv)
	if err != nil {
		return err
	}
	logger, stopLog, err := cli.NewLogger(cfg.log, stdout)
	if err != nil {
		return err
	}
	defer stopLog()
	logMemoryLimit(cfg, logger)
	ctx, cancel := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer func() {
		cancel()
		background.Wait()
	}()
	reg := admin.NewRegistry()
	keys := newKeyring(secrets, cfg.secretFile, seen, reg, logger)
	background.Go(func() { keys.watch(ctx, cfg.secretReload) })
	reader, err := storylane.NewReader()
	if err != nil {
		return err
	}
	tp, flush, err := cli.StartTracing(ctx, cfg.otlpEndpoint, "storylane-bridge", logger)
	if err != nil {
		return err
	}
	defer flush()

	// The public listener opens first and answers health checks while the
	// broker may keep us waiting; it closes before the broker does, so
	// requests in flight finish with their acknowledgements.
	closeBroker := func() {}
	defer func() { closeBroker() }()
	front := &frontDoor{}
	public, err := listenPublic(cfg, front, connlimit.NewMetrics(reg), logger)
	if err != nil {
		return err
	}
	defer public.shutdown()
	nc, stop, err := openBroker(cfg, logger)
	if err != nil {
		return err
	}
	closeBroker = stop
	// Publishing is asynchronous, each webhook waiting for its own ack; the
	// acks outstanding are bounded, and one never answered is given up
	// with the webhook.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.maxPendingAcks), jetstream.WithPublishAsyncTimeout(cfg.publishTimeout))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	// The keeper stands in for the publisher: it makes sure of the stream
	// now, and re-creates it if it is deleted later, in Run.
	pub := broker.NewStreamKeeper(broker.NewPublisher(js, cfg.stream.Name), js, cfg.stream, logger)
	if err := ensureStream(ctx, pub, cfg, logger); err != nil {
		if cli.Interrupted(ctx, err) {
			// Stopped while waiting for the broker: nothing was accepted.
			// A listener that failed meanwhile is still a failure.
			logger.Info("stopped before the stream was ready", zap.Error(err))
			return public.shutdown()
		}
		return err
	}
	background.Go(func() { pub.Run(ctx) })
	if cfg.adminListen != "" {
		opts := []admin.Option{admin.WithHealth(pub.Healthy)}
		if cfg.pprof {
			opts = append(opts, admin.WithPprof())
		}
		stopped, err := admin.Serve(ctx, cfg.adminListen, admin.NewServer(pub.Ready, reg, opts...), logger)
		if err != nil {
			return fmt.Errorf("%w: %w", cli.ErrUsage, err)
		}
		defer func() { cancel(); <-stopped }()
	}
	front.open(ingress.NewServer(ingress.Config{
		MaxBody:                bodyLimit(cfg, nc.MaxPayload(), logger),
		PublishTimeout:         cfg.publishTimeout,
		Origin:                 cloudevent.Origin{Source: cfg.source, DataSchema: schemas.SessionSchemaID},
		Subjects:               cfg.stream.Subjects,
		MaxConcurrent:          cfg.maxConcurrent,
		MaxConcurrentPerClient: cfg.maxPerClient,
		QueueTimeout:           cfg.queueTimeout,
		MaxQueued:              cfg.maxQueued,
		MaxBufferedBytes:       cfg.maxBufferedBytes,
		RateLimit:              cfg.rateLimit,
		RateBurst:              cfg.rateBurst,
		TrustedProxies:         cfg.trusted,
		AllowCIDRs:             cfg.allowed,
	}, ingress.Deps{Logger: logger, Verifier: keys, Reader: reader, Publisher: pub, Ready: pub, Health: pub, Metrics: ingress.NewMetrics(reg),
		Tracer: tp.Tracer("storylane-bridge/ingress")}))
	logger.Info("webhook secrets loaded", zap.Int("count", secrets.Len()), zap.Bool("reloaded_from_file", cfg.secretFile != ""))
	logger.Info("listening", zap.String("addr", public.addr()), zap.String("webhook_path", ingress.WebhookPath), zap.Bool("tls", cfg.tlsCert != ""))
	if err := public.wait(ctx); err != nil {
		return err
	}
	return public.shutdown()
}

// bodyLimit is --max-body, lowered to what the broker can take: checked
// before a body is read, a webhook too large for the broker is refused at
// once rather than after its signature.
func bodyLimit(cfg config, maxPayload int64, logger *zap.Logger) int64 {
	limit := maxPayload - headerRoom
	if limit >= cfg.maxBody {
		return cfg.maxBody
	}
	logger.Warn("the broker's max_payload is below --max-body plus room for headers: webhooks over max_body get 413; raise max_payload on the server",
		zap.Int64("max_payload", maxPayload), zap.Int64("max_body", max(limit, 1)))
	return max(limit, 1)
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
	access, err := listenerAccess(cfg)
	if err != nil {
		return nil, nil, err
	}
	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{
		Listen:       cfg.natsListen,
		DataDir:      cfg.dataDir,
		MaxPayload:   int32(max(cfg.maxBody+headerRoom, 1<<20)),
		SyncInterval: syncInterval,
		SyncAlways:   syncAlways,
		Access:       access,
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
	fields := []zap.Field{zap.String("client_url", url), zap.String("data_dir", cfg.dataDir), zap.String("listen_auth", cfg.natsListenAuth)}
	if access.ReaderNKey != "" {
		fields = append(fields, zap.String("reader_nkey_file", readerKeyFile(cfg)))
	}
	logger.Info("embedded nats started", fields...)
	return nc, func() {
		drain(nc, logger)
		stop()
		logger.Info("embedded nats stopped")
	}, nil
}

// listenerAccess is what the embedded broker's listener lets other
// processes do: read, and with --nats-listen-auth nkey only with the reader
// nkey, whose seed is kept (made at first) under --data-dir.
func listenerAccess(cfg config) (*broker.ListenerAccess, error) {
	access := &broker.ListenerAccess{Stream: cfg.stream.Name, Subjects: cfg.stream.Subjects}
	if cfg.natsListenAuth != broker.ListenAuthNKey || cfg.natsListen == "" || cfg.natsListen == broker.NoListen {
		return access, nil
	}
	pub, err := broker.ReaderKey(readerKeyFile(cfg))
	if err != nil {
		return nil, fmt.Errorf("%w: --nats-listen-auth nkey: %w", cli.ErrUsage, err)
	}
	access.ReaderNKey = pub
	return access, nil
}

func readerKeyFile(cfg config) string { return filepath.Join(cfg.dataDir, broker.ReaderKeyFile) }

// drainTimeout bounds the wait for a draining connection to close.
const drainTimeout = 10 * time.Second

func drain(nc *nats.Conn, logger *zap.Logger) {
	if err := broker.Drain(nc, drainTimeout); err != nil {
		logger.Warn("nats drain", zap.Error(err))
	}
}

// ensureStream creates or updates the stream. Against an external broker it
// waits for the broker instead of failing, so the bridge may start first;
// not for a server that refuses, which a person must fix.
func ensureStream(ctx context.Context, keeper *broker.StreamKeeper, cfg config, logger *zap.Logger) error {
	var info *jetstream.StreamInfo
	ensure := func(ctx context.Context) (err error) {
		info, err = keeper.Ensure(ctx)
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
