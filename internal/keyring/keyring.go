package keyring

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Keyring is the verifier the webhook handler uses: the current secrets,
// swapped whole when the secret file changes, so rotating a secret needs
// no restart.
type Keyring struct {
	current      atomic.Pointer[storylane.Keyring]
	file         string
	seen         []byte   // the file's content when last read
	failed       *failure // the last failed reload, reported already
	reloadsTotal *prometheus.CounterVec
	count        prometheus.Gauge
	logger       *zap.Logger
	read         func(name string) ([]byte, error)
	settle       time.Duration // the pause before a changed file is read again
}

// failure is a reload that failed: the file's content, or the error
// reading it. One failure is reported once, however many checks find it.
type failure struct {
	content []byte
	err     string
}

func (f *failure) same(g *failure) bool {
	return f != nil && g != nil && f.err == g.err && bytes.Equal(f.content, g.content)
}

// maxSettle bounds the pause before a changed file is read again: an
// editor or a shell writing in place takes milliseconds.
const maxSettle = 100 * time.Millisecond

// New serves the secrets loaded, registering its metrics with reg.
func New(l Loaded, reg prometheus.Registerer, logger *zap.Logger) *Keyring {
	k := &Keyring{file: l.file, seen: l.content, logger: logger, read: os.ReadFile, settle: maxSettle,
		reloadsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storylane_bridge_secret_reloads_total",
			Help: "Re-reads of the webhook secret file that changed the secrets, by result: ok, or error (the previous secrets stay).",
		}, []string{"result"}),
		count: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "storylane_bridge_webhook_secrets",
			Help: "Webhook secrets accepted now.",
		}),
	}
	reg.MustRegister(k.reloadsTotal, k.count)
	k.reloadsTotal.WithLabelValues("ok")
	k.reloadsTotal.WithLabelValues("error")
	k.current.Store(l.keys)
	k.count.Set(float64(l.keys.Len()))
	return k
}

// Verify implements ingress.Verifier with the current secrets.
func (k *Keyring) Verify(body []byte, signature string) (int, error) {
	return k.current.Load().Verify(body, signature)
}

// Len is the number of secrets accepted now.
func (k *Keyring) Len() int { return k.current.Load().Len() }

// FromFile reports whether the secrets come from a file, and so can change.
func (k *Keyring) FromFile() bool { return k.file != "" }

// Watch re-reads the secret file on SIGHUP and whenever its content changes
// (checked every interval; a Kubernetes Secret update arrives that way),
// until ctx is done. A file that cannot be read, or holds no secret, keeps
// the secrets in use. SIGHUP is always caught, so that it never ends the
// process, even when there is no file to re-read.
func (k *Keyring) Watch(ctx context.Context, interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	k.settle = min(interval/2, maxSettle)
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
				k.logger.Warn("SIGHUP: the secrets come from $" + EnvSecret + ", which a running process cannot re-read; use a secret file to rotate without a restart")
				continue
			}
			k.reload(true)
		case <-tick:
			k.reload(false)
		}
	}
}

// reload reads the file and swaps the keyring when its content changed
// (or when forced); a failure is reported once per change of state, be it
// of the content or of the error reading it.
func (k *Keyring) reload(forced bool) {
	b, err := k.read(k.file)
	if err == nil && !forced && bytes.Equal(b, k.seen) {
		k.failed = nil
		return
	}
	if err == nil && !k.settled(b) {
		return // being written: the next check reads it whole
	}
	var next *storylane.Keyring
	if err == nil {
		next, err = fromFile(k.file, b)
	}
	if err != nil {
		f := &failure{content: b, err: err.Error()}
		if !forced && f.same(k.failed) {
			return
		}
		k.failed = f
		k.reloadsTotal.WithLabelValues("error").Inc()
		k.logger.Error("webhook secrets not reloaded; the previous ones stay in use", zap.Error(err))
		return
	}
	k.seen, k.failed = b, nil
	k.current.Store(next)
	k.count.Set(float64(next.Len()))
	k.reloadsTotal.WithLabelValues("ok").Inc()
	k.logger.Info("webhook secrets reloaded", zap.Int("count", next.Len()))
}

// settled reads the file again after a pause and reports whether it still
// holds b. An operator may write the file in place, not by a rename; read
// in the middle of that, it holds a list cut short, whose last secret may
// be truncated yet valid, and that must not replace the secrets in use.
func (k *Keyring) settled(b []byte) bool {
	time.Sleep(k.settle)
	again, err := k.read(k.file)
	return err == nil && bytes.Equal(again, b)
}
