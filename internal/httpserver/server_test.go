package httpserver_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/storylane-bridge/storylane-bridge/internal/httpserver"
	"github.com/storylane-bridge/storylane-bridge/internal/tlstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func listen(t *testing.T, cfg httpserver.Config) *httpserver.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Grace == 0 {
		cfg.Grace = 5 * time.Second
	}
	s, err := httpserver.Listen(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	return s
}

// TestShutdownLetsRequestsInFlightFinish: a request being served when
// Shutdown begins is answered; Shutdown returns once it is.
func TestShutdownLetsRequestsInFlightFinish(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	s := listen(t, httpserver.Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})})
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	answered := make(chan string, 1)
	go func() {
		res, err := client.Get("http://" + s.Addr() + "/")
		if err != nil {
			answered <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		answered <- string(b)
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown() }()
	time.Sleep(50 * time.Millisecond) // Shutdown has begun
	close(release)
	if got := <-answered; got != "done" {
		t.Errorf("request in flight at shutdown answered %q, want done", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown() = %v, want nil", err)
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
}

// TestShutdownClosesWhatOutlastsTheGrace: a request still served after the
// grace period is cut off, and Shutdown says so.
func TestShutdownClosesWhatOutlastsTheGrace(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s := listen(t, httpserver.Config{Grace: 100 * time.Millisecond, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	})})
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	failed := make(chan error, 1)
	go func() {
		res, err := client.Get("http://" + s.Addr() + "/")
		if err == nil {
			res.Body.Close()
		}
		failed <- err
	}()
	<-entered
	if err := s.Shutdown(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown() with a request past the grace = %v, want %v", err, context.DeadlineExceeded)
	}
	if err := <-failed; err == nil {
		t.Error("the request past the grace was answered, want its connection closed")
	}
	if err := s.Shutdown(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Shutdown() = %v, want the first one's error", err)
	}
}

func TestListenReportsAnAddressInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if _, err := httpserver.Listen(httpserver.Config{Addr: taken.Addr().String(), Handler: http.NotFoundHandler()}, zap.NewNop()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen(%s) on a taken port = %v, want %v", taken.Addr(), err, syscall.EADDRINUSE)
	}
}

// TestServesTLSWithTheListenerWrapped: the key pair read by KeyPair serves
// TLS 1.2 or later, through the listener wrapper and the ConnState hook.
func TestServesTLSWithTheListenerWrapped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.Issue(t, false).Write(t, dir, "server")
	conf, err := httpserver.KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var wrapped, states atomic.Int64
	s := listen(t, httpserver.Config{TLS: conf, Handler: http.NotFoundHandler(),
		WrapListener: func(ln net.Listener) net.Listener { wrapped.Add(1); return ln },
		ConnState:    func(net.Conn, http.ConnState) { states.Add(1) }})
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	defer transport.CloseIdleConnections()
	res, err := (&http.Client{Transport: transport}).Get("https://" + s.Addr() + "/")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET over TLS = %d (%v), want 404 over TLS 1.2 or later", res.StatusCode, res.TLS)
	}
	if wrapped.Load() != 1 || states.Load() == 0 {
		t.Errorf("listener wrapped %d times, %d connection states seen; want 1 and some", wrapped.Load(), states.Load())
	}
	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}}
	defer old.CloseIdleConnections()
	if res, err := (&http.Client{Transport: old}).Get("https://" + s.Addr() + "/"); err == nil {
		res.Body.Close()
		t.Error("a TLS 1.1 client was served, want it refused")
	}
}

func TestKeyPairRefusesABadPair(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := httpserver.KeyPair(bad, bad); err == nil {
		t.Errorf("KeyPair(%s) = nil error, want an error", bad)
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	s := listen(t, httpserver.Config{Handler: http.NotFoundHandler()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Wait(ctx); err != nil {
		t.Errorf("Wait(cancelled) = %v, want nil", err)
	}
}

func TestErrorLogIsRateLimited(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	l := httpserver.ErrorLog(zap.New(core), "http")
	for range 1000 {
		l.Print("http: TLS handshake error from 192.0.2.1:5555: EOF")
	}
	if n := logs.Len(); n > 30 || n < 5 {
		t.Errorf("%d lines written for 1000, want a burst of about 20", n)
	}
}
