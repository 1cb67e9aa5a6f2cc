package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/admin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	var notReady error
	srv := httptest.NewServer(admin.NewServer(func(context.Context) error { return notReady }, admin.NewRegistry()))
	defer srv.Close()
	get := func(path string) (int, string) {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz when ready = %d, want 200", code)
	}
	notReady = errors.New("consumer info: timeout")
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "timeout") {
		t.Errorf("GET /readyz when not ready = %d %s, want 503 with the reason", code, body)
	}
	if code, _ := get("/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Errorf("GET /metrics = %d, want 200 with the Go and process metrics", code)
	}
}

// TestPprofOnlyWhenAsked: the profiles are absent unless WithPprof is given.
func TestPprofOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	ready := func(context.Context) error { return nil }
	paths := []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/pprof/symbol", "/debug/pprof/trace?seconds=0"}
	tests := []struct {
		name string
		opts []admin.Option
		want int
	}{
		{"default", nil, http.StatusNotFound},
		{"WithPprof", []admin.Option{admin.WithPprof()}, http.StatusOK},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(admin.NewServer(ready, admin.NewRegistry(), tt.opts...))
		for _, path := range paths {
			res, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Errorf("%s: GET %s = %d, want %d", tt.name, path, res.StatusCode, tt.want)
			}
		}
		srv.Close()
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	var unhealthy error
	srv := httptest.NewServer(admin.NewServer(func(context.Context) error { return nil }, admin.NewRegistry(),
		admin.WithHealth(func(context.Context) error { return unhealthy })))
	defer srv.Close()
	get := func() (int, string) {
		res, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK {
		t.Errorf("GET /healthz while healthy = %d %s, want 200", code, body)
	}
	unhealthy = errors.New("stream STORYLANE takes no events and the bridge may not re-create it")
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "may not re-create it") {
		t.Errorf("GET /healthz while unhealthy = %d %s, want 503 with the reason", code, body)
	}
}

func TestServeStopsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	stopped, err := admin.Serve(ctx, "127.0.0.1:0", admin.NewServer(func(context.Context) error { return nil }, admin.NewRegistry()), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-stopped
	if _, err := admin.Serve(context.Background(), "256.0.0.1:0", http.NotFoundHandler(), zap.NewNop()); err == nil {
		t.Error("Serve on a bad address = nil error, want the bind error")
	}
}
