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

// TestConsumersReadTheHubUnchanged: with two edge bridges forwarding to a
// hub, lead-sync, session-archive and session-stats, started against the
// hub with the flags they take against a single bridge, each see every
// webhook once, those sent to both edges included.
func TestConsumersReadTheHubUnchanged(t *testing.T) {
	t.Parallel()
	h := startHubProc(t)
	a, b := newEdgeProc(t, "a", "nats-leaf://"+h.leafAddr()), newEdgeProc(t, "b", "nats-leaf://"+h.leafAddr())
	a.start()
	b.start()
	h.createStream("a", "b")

	target := &crm{attempts: map[string]int{}, accepted: map[string]int{}, types: map[string]string{}}
	srv := httptest.NewServer(target)
	defer srv.Close()
	env := []string{"NATS_URL=" + h.url(), "CONSUMER_BACKOFF=100ms"}
	leadSync := clitest.StartProcess(t, binary("lead-sync"), env, "--target-url", srv.URL)
	archiveDir := t.TempDir()
	archive := clitest.StartProcess(t, binary("session-archive"), env, "--dir", archiveDir)
	stats, api := sessionStats(t, h.url(), t.TempDir())

	const n = 60
	known := map[string]bool{}
	for i := range n {
		body := natstest.SessionBody(i, i%3 == 0)
		if s, _ := storylane.Parse(body); s.Known() {
			known[cloudevent.ID(body)] = true
		}
		send(t, []*edgeProc{a, b}[i%2].url(), body)
		if i%10 == 0 { // Storylane's delivery reaching the other edge too
			send(t, []*edgeProc{b, a}[i%2].url(), body)
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

	for _, p := range []*clitest.Process{leadSync, archive, stats, a.proc, b.proc} {
		p.Signal(t, syscall.SIGTERM)
		if code := p.Exit(t); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0; output:\n%s", filepath.Base(p.Cmd.Path), code, p.Logs)
		}
	}
}
