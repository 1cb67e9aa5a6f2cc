package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
)

// bin holds the commands built once, for the tests that run the bridge as
// a real process.
var bin string

func TestMain(m *testing.M) {
	os.Exit(clitest.MainWithBinaries(m, &bin))
}

func TestProcessExitsWith2WithoutSecret(t *testing.T) {
	t.Parallel()
	p := clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET="}, "--data-dir", t.TempDir())
	if code := p.Exit(t); code != 2 {
		t.Errorf("storylane-bridge without a secret exited %d, want 2", code)
	}
	if !strings.Contains(p.Logs.String(), "$STORYLANE_WEBHOOK_SECRET to") {
		t.Errorf("storylane-bridge without a secret said %q, want it to name STORYLANE_WEBHOOK_SECRET", p.Logs)
	}
}

// TestProcessStopsCleanlyOnSIGTERM runs the real binary on the embedded
// broker, stores a webhook, stops it with SIGTERM, and finds the webhook
// again after starting it on the same data.
func TestProcessStopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"STORYLANE_WEBHOOK_SECRET=" + testSecret, "BRIDGE_DATA_DIR=" + dir}
	args := []string{"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}
	p := clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), env, args...)
	url := "http://" + p.Logs.Wait(t, "listening")["addr"].(string)
	if a := post(t, url, example(t, "known"), testSecret); a.status != http.StatusOK {
		t.Fatalf("POST known = %d %v, want 200", a.status, a.body)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Exit(t); code != 0 {
		t.Fatalf("storylane-bridge after SIGTERM exited %d, want 0; output:\n%s", code, p.Logs)
	}
	p.Logs.Wait(t, "embedded nats stopped")

	p = clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), env, args...)
	natsURL := p.Logs.Wait(t, "embedded nats started")["client_url"].(string)
	msgs := streamMessages(t, natsURL, "STORYLANE")
	if len(msgs) != 1 || msgs[0].Subject != "storylane.session.known" {
		t.Errorf("after a restart the stream holds %d messages, want the known session", len(msgs))
	}
	p.Signal(t, syscall.SIGINT)
	if code := p.Exit(t); code != 0 {
		t.Errorf("storylane-bridge after SIGINT exited %d, want 0", code)
	}
}

// TestProcessStopsCleanlyWhileWaitingForTheBroker: a bridge stopped while
// it waits for its broker has accepted nothing and failed at nothing, so a
// SIGTERM then (an orchestrator rolling it during a broker outage) ends it
// with status 0, as one after start-up does.
func TestProcessStopsCleanlyWhileWaitingForTheBroker(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	srv.Stop()
	p := clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET=" + testSecret, "NATS_URL=" + srv.URL()},
		"--listen", "127.0.0.1:0")
	p.Logs.Wait(t, "waiting for the stream")
	p.Signal(t, syscall.SIGTERM)
	if code := p.Exit(t); code != 0 {
		t.Fatalf("storylane-bridge after SIGTERM while waiting for its broker exited %d, want 0; output:\n%s", code, p.Logs)
	}
	p.Logs.Wait(t, "stopped before the stream was ready")
}
