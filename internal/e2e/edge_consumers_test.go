package e2e_test

import (
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// startEdgeBridge runs storylane-bridge in edge mode as the named edge of
// the hub at leafURL and returns it and its webhook URL.
func startEdgeBridge(t *testing.T, name, leafURL string) (*clitest.Process, string) {
	t.Helper()
	p := clitest.StartProcess(t, binary("storylane-bridge"),
		[]string{"STORYLANE_WEBHOOK_SECRET=" + secret, "BRIDGE_DATA_DIR=" + t.TempDir()},
		"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--leaf-remote", leafURL, "--edge-name", name)
	return p, "http://" + p.Logs.Wait(t, "listening")["addr"].(string)
}

// TestConsumersReadTheHubUnchanged: with two edge bridges forwarding to a
// hub, lead-sync, session-archive and session-stats, started against the
// hub with the flags they take against a single bridge, each see every
// webhook once, those sent to both edges included.
func TestConsumersReadTheHubUnchanged(t *testing.T) {
	t.Parallel()
	h := natstest.StartHub(t)
	a, urlA := startEdgeBridge(t, "a", h.LeafURL())
	b, urlB := startEdgeBridge(t, "b", h.LeafURL())
	setUp := clitest.StartProcess(t, binary("storylane-hub"), nil,
		"--nats-url", h.URL(), "--duplicate-window", "1h", "--edges", "a,b")
	if code := setUp.Exit(t); code != 0 {
		t.Fatalf("storylane-hub exited %d:\n%s", code, setUp.Logs)
	}

	target := &crm{attempts: map[string]int{}, accepted: map[string]int{}, types: map[string]string{}}
	srv := httptest.NewServer(target)
	defer srv.Close()
	env := []string{"NATS_URL=" + h.URL(), "CONSUMER_BACKOFF=100ms"}
	leadSync := clitest.StartProcess(t, binary("lead-sync"), env, "--target-url", srv.URL)
	archiveDir := t.TempDir()
	archive := clitest.StartProcess(t, binary("session-archive"), env, "--dir", archiveDir)
	stats, api := sessionStats(t, h.URL(), t.TempDir())

	const n = 60
	known := map[string]bool{}
	for i := range n {
		body := natstest.SessionBody(i, i%3 == 0)
		if s, _ := storylane.Parse(body); s.Known() {
			known[cloudevent.ID(body)] = true
		}
		send(t, []string{urlA, urlB}[i%2], body)
		if i%10 == 0 { // Storylane's delivery reaching the other edge too
			send(t, []string{urlB, urlA}[i%2], body)
		}
	}

	poll.Eventually(t, "every session archived", 60*time.Second, func() bool { return len(archived(t, archiveDir)) == n })
	poll.Eventually(t, "every known session accepted by the CRM", 60*time.Second, func() bool { return target.acceptedCount() == len(known) })
	waitCounted(t, api, n)
	time.Sleep(500 * time.Millisecond) // room for a stray duplicate to show
	for id, c := range archived(t, archiveDir) {
		if c != 1 {
			t.Errorf("archive holds %s %d times, want once", id, c)
		}
	}
	target.mu.Lock()
	for id := range known {
		if target.accepted[id] != 1 {
			t.Errorf("CRM accepted known event %s %d times, want once", id, target.accepted[id])
		}
	}
	target.mu.Unlock()

	for _, p := range []*clitest.Process{leadSync, archive, stats, a, b} {
		p.Signal(t, syscall.SIGTERM)
		if code := p.Exit(t); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0; output:\n%s", filepath.Base(p.Cmd.Path), code, p.Logs)
		}
	}
}
