package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/forward"
	"github.com/storylane-bridge/storylane-bridge/internal/tracing"
)

const synopsis = `Consumes known Storylane sessions (storylane.session.known) from the bridge's
stream and POSTs each to --target-url as a CloudEvent over HTTP, binary mode by
default, with Idempotency-Key set to the event id and, with --target-secret, a
Standard Webhooks signature (webhook-id, webhook-timestamp, webhook-signature).
2xx is done; timeouts, connection errors, 408, 429 (after its Retry-After) and
5xx are retried with back-off; any other answer dead-letters the event on
storylane.dlq.<durable>. --redrive gives the dead letters one more try; one that
does not match its original in the stream (forged, or aged out) is refused.`

type config struct {
	consumer      consume.ProcessConfig
	targetURL     string
	targetMode    string
	targetSecret  string
	targetTimeout time.Duration
}

func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	f := cli.NewFlagSet("lead-sync", synopsis, stdout)
	consume.DefineFlags(f, &c.consumer, "lead-sync", 16, "new")
	f.StringVar(&c.targetURL, "target-url", "LEAD_SYNC_TARGET_URL", "", "`URL` that receives each known session (required)")
	f.StringVar(&c.targetMode, "target-mode", "LEAD_SYNC_TARGET_MODE", forward.Binary, "CloudEvents HTTP `mode`: binary or structured")
	f.StringVar(&c.targetSecret, "target-secret", "LEAD_SYNC_TARGET_SECRET", "", "`secret` that signs deliveries (Standard Webhooks; whsec_ secrets are base64); prefer the variable")
	f.DurationVar(&c.targetTimeout, "target-timeout", "LEAD_SYNC_TARGET_TIMEOUT", 10*time.Second, "how long one delivery may take")
	if err := f.Parse(args, getenv); err != nil {
		return config{}, err
	}
	c.consumer.NATS.Name = "lead-sync"
	if err := c.consumer.Validate(); err != nil {
		return config{}, err
	}
	if u, err := url.Parse(c.targetURL); c.targetURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return config{}, fmt.Errorf("%w: --target-url %q: want an http or https URL", cli.ErrUsage, c.targetURL)
	}
	if c.targetTimeout <= 0 {
		return config{}, fmt.Errorf("%w: --target-timeout must be positive", cli.ErrUsage)
	}
	c.consumer.Consumer.FilterSubjects = []string{c.consumer.Consumer.Subjects.Session(true)}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	logger, stopLog, err := cli.NewLogger(cfg.consumer.Log, stdout)
	if err != nil {
		return err
	}
	defer stopLog()
	client := &http.Client{Timeout: cfg.targetTimeout, Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: cfg.consumer.Consumer.MaxInFlight,
		IdleConnTimeout:     90 * time.Second,
	}}
	tp, flush, err := tracing.Start(ctx, cfg.consumer.OTLPEndpoint, "lead-sync", logger)
	if err != nil {
		return err
	}
	defer flush()
	target, err := forward.NewTarget(cfg.targetURL, cfg.targetMode, cfg.targetSecret, client)
	if err != nil {
		return fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	target.WithTracer(tp.Tracer("storylane-bridge/forward"))
	logger.Info("delivering known sessions", zap.String("target", forward.RedactURL(cfg.targetURL)), zap.String("mode", cfg.targetMode),
		zap.Bool("signed", cfg.targetSecret != ""))
	handler := func(ctx context.Context, e consume.Event) error {
		return target.Deliver(ctx, e.CloudEvent)
	}
	return consume.RunProcess(ctx, cfg.consumer, handler, logger, tp)
}
