package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// loadKeyring reads the webhook secrets from $STORYLANE_WEBHOOK_SECRET or
// from the secret file (returning the content it read, for reloads); the
// bridge refuses to start without one.
func loadKeyring(secretFile string, getenv func(string) string) (*storylane.Keyring, []byte, error) {
	list := getenv(envSecret)
	if list != "" && secretFile != "" {
		return nil, nil, fmt.Errorf("%w: set either $%s or $%s (--secret-file), not both", cli.ErrUsage, envSecret, envSecretFile)
	}
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: read webhook secret file ($%s, --secret-file): %w", cli.ErrUsage, envSecretFile, err)
		}
		k, err := keyringOf(secretFile, b)
		return k, b, err
	}
	secrets, err := storylane.SecretsFromList(list)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: $%s, %w", cli.ErrUsage, envSecret, err)
	}
	if len(secrets) == 0 {
		return nil, nil, fmt.Errorf("%w: no webhook secret: set $%s to the secret Storylane shows under Settings > Integrations > Webhook, or $%s to a file holding it",
			cli.ErrUsage, envSecret, envSecretFile)
	}
	k, err := storylane.NewKeyring(secrets...)
	return k, nil, err
}

func keyringOf(file string, content []byte) (*storylane.Keyring, error) {
	secrets, err := storylane.SecretsFromLines(content)
	if err != nil {
		return nil, fmt.Errorf("%w: webhook secret file %s, %w", cli.ErrUsage, file, err)
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: webhook secret file %s holds no secret; put the one Storylane shows in it, one per line", cli.ErrUsage, file)
	}
	return storylane.NewKeyring(secrets...)
}

// keyring is the verifier the handler uses: the current keyring, swapped
// whole when the secret file changes, so rotating a secret needs no restart.
type keyring struct {
	current atomic.Pointer[storylane.Keyring]
	file    string
	seen    []byte // the file's content when last read
	broken  []byte // content that failed to load, reported already
	reloads *prometheus.CounterVec
	count   prometheus.Gauge
	logger  *zap.Logger
}

// newKeyring serves k, loaded from file's content seen (nil without a file).
func newKeyring(k *storylane.Keyring, file string, seen []byte, reg prometheus.Registerer, logger *zap.Logger) *keyring {
	kr := &keyring{file: file, seen: seen, logger: logger,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storylane_bridge_secret_reloads_total",
			Help: "Re-reads of the webhook secret file that changed the secrets, by result: ok, or error (the previous secrets stay).",
		}, []string{"result"}),
		count: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "storylane_bridge_webhook_secrets",
			Help: "Webhook secrets accepted now.",
		}),
	}
	reg.MustRegister(kr.reloads, kr.count)
	kr.reloads.WithLabelValues("ok")
	kr.reloads.WithLabelValues("error")
	kr.current.Store(k)
	kr.count.Set(float64(k.Len()))
	return kr
}

// Verify implements ingress.Verifier with the current secrets.
func (k *keyring) Verify(body []byte, signature string) (int, error) {
	return k.current.Load().Verify(body, signature)
}

// watch re-reads the secret file on SIGHUP and whenever its content changes
// (checked every interval; a Kubernetes Secret update arrives that way),
// until ctx is done. A file that cannot be read, or holds no secret, keeps
// the secrets in use. SIGHUP is always caught, so that it never ends the
// process, even when there is no file to re-read.
func (k *keyring) watch(ctx context.Context, interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if k.file != "" {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if k.file == "" {
				k.logger.Warn("SIGHUP: the secrets come from $" + envSecret + ", which a running process cannot re-read; use a secret file to rotate without a restart")
				continue
			}
			k.reload(true)
		case <-tick:
			k.reload(false)
		}
	}
}

// reload reads the file once and swaps the keyring when its content
// changed (or when forced); a broken file is reported once per change.
func (k *keyring) reload(forced bool) {
	b, err := os.ReadFile(k.file)
	if err == nil && !forced && bytes.Equal(b, k.seen) {
		return
	}
	var next *storylane.Keyring
	if err == nil {
		next, err = keyringOf(k.file, b)
	}
	if err != nil {
		if !forced && b != nil && bytes.Equal(b, k.broken) {
			return // this broken content was reported already
		}
		k.broken = b
		k.reloads.WithLabelValues("error").Inc()
		k.logger.Error("webhook secrets not reloaded; the previous ones stay in use", zap.Error(err))
		return
	}
	k.seen, k.broken = b, nil
	k.current.Store(next)
	k.count.Set(float64(next.Len()))
	k.reloads.WithLabelValues("ok").Inc()
	k.logger.Info("webhook secrets reloaded", zap.Int("count", next.Len()))
}
