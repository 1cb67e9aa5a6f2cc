package main

import (
	"context"
	"io"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/admin"
	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/connlimit"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/internal/keyring"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/internal/tracing"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	secrets, err := keyring.Load(cfg.secretFile, getenv)
	if err != nil {
		return err
	}
	logger, stopLog, err := cli.NewLogger(cfg.log, stdout)
	if err != nil {
		return err
	}
	defer stopLog()
	ingress.LogMemoryLimit(cfg.maxBufferedBytes, logger)
	ctx, cancel := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer func() {
		cancel()
		background.Wait()
	}()
	reg := admin.NewRegistry()
	keys := keyring.New(secrets, reg, logger)
	background.Go(func() { keys.Watch(ctx, cfg.secretReload) })
	reader, err := storylane.NewReader()
	if err != nil {
		return err
	}
	tp, flush, err := tracing.Start(ctx, cfg.otlpEndpoint, "storylane-bridge", logger)
	if err != nil {
		return err
	}
	defer flush()

	// The public listener opens first and answers health checks while the
	// broker may keep us waiting; it closes before the broker does, so
	// requests in flight finish with their acknowledgements.
	closeBroker := func() {}
	defer func() { closeBroker() }()
	gate := ingress.NewGate()
	public, err := listenPublic(cfg, gate, connlimit.NewMetrics(reg), logger)
	if err != nil {
		return err
	}
	defer public.Shutdown()
	emb, err := cfg.embedded()
	if err != nil {
		return err
	}
	if emb.Edge != nil {
		emb.Edge.Link = &broker.LeafLink{}
	}
	nc, stop, err := broker.Open(cfg.nats, emb, logger)
	if err != nil {
		return err
	}
	closeBroker = stop
	pub, err := broker.OpenStream(ctx, nc, cfg.stream, broker.PublishOptions{MaxPendingAcks: cfg.maxPendingAcks, Timeout: cfg.publishTimeout},
		cfg.nats.URL != "", logger)
	if err != nil {
		if broker.Interrupted(ctx, err) {
			// Stopped while waiting for the broker: nothing was accepted.
			// A listener that failed meanwhile is still a failure.
			logger.Info("stopped before the stream was ready", zap.Error(err))
			return public.Shutdown()
		}
		return err
	}
	background.Go(func() { pub.Run(ctx) })
	if emb.Edge != nil {
		broker.NewEdgeMetrics(reg, pub, emb.Edge.Link)
	}
	if cfg.adminListen != "" {
		stopped, err := serveAdmin(ctx, cfg, pub, reg, logger)
		if err != nil {
			return err // as --listen and --nats-listen: the port's state, not a usage error
		}
		defer func() { cancel(); <-stopped }()
	}
	gate.Open(ingress.NewServer(cfg.ingress(broker.BodyLimit(cfg.maxBody, nc.MaxPayload(), logger)),
		ingress.Deps{Logger: logger, Verifier: keys, Reader: reader, Publisher: pub, Ready: pub, Health: pub,
			Metrics: ingress.NewMetrics(reg), Tracer: tp.Tracer("storylane-bridge/ingress")}))
	logger.Info("webhook secrets loaded", zap.Int("count", keys.Len()), zap.Bool("reloaded_from_file", keys.FromFile()))
	logger.Info("listening", zap.String("addr", public.Addr()), zap.String("webhook_path", ingress.WebhookPath), zap.Bool("tls", cfg.tlsCert != ""))
	if err := public.Wait(ctx); err != nil {
		return err
	}
	return public.Shutdown()
}

// serveAdmin starts the operators' listener: readiness, health, metrics,
// and pprof with --pprof.
func serveAdmin(ctx context.Context, cfg config, pub *broker.StreamKeeper, reg *prometheus.Registry, logger *zap.Logger) (<-chan struct{}, error) {
	opts := []admin.Option{admin.WithHealth(pub.Healthy)}
	if cfg.pprof {
		opts = append(opts, admin.WithPprof())
	}
	return admin.Serve(ctx, cfg.adminListen, admin.NewServer(pub.Ready, reg, opts...), logger)
}
