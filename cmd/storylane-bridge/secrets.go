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
// from the secret file; the bridge refuses to start without one.
func loadKeyring(secretFile string, getenv func(string) string) (*storylane.Keyring, error) {
	list := getenv(envSecret)
	if list != "" && secretFile != "" {
		return nil, fmt.Errorf("%w: set either $%s or $%s (--secret-file), not both", cli.ErrUsage, envSecret, envSecretFile)
	}
	if secretFile != "" {
		return readKeyring(secretFile)
	}
	secrets := storylane.SecretsFromList(list)
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no webhook secret: set $%s to the secret Storylane shows under Settings > Integrations > Webhook, or $%s to a file holding it",
			cli.ErrUsage, envSecret, envSecretFile)
	}
	return storylane.NewKeyring(secrets...)
}

func readKeyring(file string) (*storylane.Keyring, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: read webhook secret file ($%s, --secret-file): %w", cli.ErrUsage, envSecretFile, err)
	}
	secrets := storylane.SecretsFromLines(b)
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
	reloads *prometheus.CounterVec
	count   prometheus.Gauge
	logger  *zap.Logger
}

func newKeyring(k *storylane.Keyring, file string, reg prometheus.Registerer, logger *zap.Logger) *keyring {
	kr := &keyring{file: file, logger: logger,
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
	if file != "" {
		kr.seen, _ = os.ReadFile(file)
	}
	return kr
}

// Verify implements ingress.Verifier with the current secrets.
func (k *keyring) Verify(body []byte, signature string) (int, error) {
	return k.current.Load().Verify(body, signature)
}

// watch re-reads the secret file on SIGHUP and whenever its content changes
// (checked every interval; a Kubernetes Secret update arrives that way),
// until ctx is done. A file that cannot be read, or holds no secret, keeps
// the secrets in use.
func (k *keyring) watch(ctx context.Context, interval time.Duration) {
	if k.file == "" {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			k.reload(true)
		case <-tick.C:
			k.reload(false)
		}
	}
}

func (k *keyring) reload(forced bool) {
	b, err := os.ReadFile(k.file)
	if err == nil && !forced && bytes.Equal(b, k.seen) {
		return
	}
	next, err := readKeyring(k.file)
	if err != nil {
		k.reloads.WithLabelValues("error").Inc()
		k.logger.Error("webhook secrets not reloaded; the previous ones stay in use", zap.Error(err))
		return
	}
	k.seen = b
	k.current.Store(next)
	k.count.Set(float64(next.Len()))
	k.reloads.WithLabelValues("ok").Inc()
	k.logger.Info("webhook secrets reloaded", zap.Int("count", next.Len()))
}
