package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

const secret = "e2e-secret"

// crm accepts a delivery on its second attempt and counts, per
// Idempotency-Key, the attempts, the acceptances and the event types.
type crm struct {
	mu       sync.Mutex
	attempts map[string]int
	accepted map[string]int
	types    map[string]string
}

func (c *crm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	key := r.Header.Get("Idempotency-Key")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts[key]++
	c.types[key] = r.Header.Get("Ce-Type")
	if c.attempts[key] == 1 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	c.accepted[key]++
	w.WriteHeader(http.StatusOK)
}

func (c *crm) acceptedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.accepted)
}

// archived counts the lines of the archive per event id. A line that is not
// an event fails the test: the archive repairs a cut line when it starts, so
// none may be left once it has caught up. (Call it only then, or expect
// the last line to be cut while a writer is busy.)
func archived(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	parts, _ := filepath.Glob(filepath.Join(dir, "dt=*", "sessions.ndjson"))
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var ev struct{ ID string }
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.ID == "" {
				out["unreadable line in "+p]++
				continue
			}
			out[ev.ID]++
		}
	}
	return out
}

func send(t *testing.T, url string, body []byte) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
		req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(secret)))
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if attempt == 20 {
			t.Fatalf("webhook not accepted after 20 attempts: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFanOutSurvivesArchiveKill runs the bridge on its embedded broker,
// two lead-sync instances sharing one durable against a CRM that fails
// every first attempt, and session-archive; sends 200 signed webhooks;
// SIGKILLs session-archive halfway and starts it again. In the end the
// archive holds all 200 exactly once and the CRM accepted exactly the known
// ones, each once.
func TestFanOutSurvivesArchiveKill(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	bridge := clitest.StartProcess(t, binary("storylane-bridge"),
		[]string{"STORYLANE_WEBHOOK_SECRET=" + secret, "BRIDGE_DATA_DIR=" + filepath.Join(work, "data")},
		"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	natsURL := bridge.Logs.Wait(t, "embedded nats started")["client_url"].(string)
	url := "http://" + bridge.Logs.Wait(t, "listening")["addr"].(string)

	target := &crm{attempts: map[string]int{}, accepted: map[string]int{}, types: map[string]string{}}
	srv := httptest.NewServer(target)
	defer srv.Close()
	consumerEnv := []string{"NATS_URL=" + natsURL, "CONSUMER_BACKOFF=100ms"}
	var syncs []*clitest.Process
	for range 2 {
		p := clitest.StartProcess(t, binary("lead-sync"), consumerEnv, "--target-url", srv.URL)
		p.Logs.Wait(t, "consuming")
		syncs = append(syncs, p)
	}
	archiveDir := filepath.Join(work, "archive")
	archive := clitest.StartProcess(t, binary("session-archive"), consumerEnv, "--dir", archiveDir)
	archive.Logs.Wait(t, "consuming")

	known, all := map[string]bool{}, map[string]bool{}
	for i := range 200 {
		body := natstest.SessionBody(i, i%4 == 0 || i%7 == 0)
		id := cloudevent.ID(body)
		all[id] = true
		if s, _ := storylane.Parse(body); s.Known() {
			known[id] = true
		}
		send(t, url, body)
		if i == 100 {
			poll.Eventually(t, "some events archived", 20*time.Second, func() bool { return len(archived(t, archiveDir)) > 0 })
			archive.Signal(t, syscall.SIGKILL)
			archive.Exit(t)
		}
	}
	archive = clitest.StartProcess(t, binary("session-archive"), consumerEnv, "--dir", archiveDir)

	poll.Eventually(t, "all 200 archived", 60*time.Second, func() bool { return len(archived(t, archiveDir)) == 200 })
	poll.Eventually(t, "all known sessions accepted", 60*time.Second, func() bool { return target.acceptedCount() == len(known) })
	time.Sleep(500 * time.Millisecond) // room for a stray duplicate to show

	for id, n := range archived(t, archiveDir) {
		if !all[id] || n != 1 { // an unreadable line is no sent event
			t.Errorf("archive holds event %s %d times (sent: %v), want each sent event once", id, n, all[id])
		}
	}
	target.mu.Lock()
	for id := range known {
		if target.accepted[id] != 1 {
			t.Errorf("CRM accepted known event %s %d times, want once", id, target.accepted[id])
		}
	}
	for id, typ := range target.types {
		if !known[id] || typ != "storylane.session.known" {
			t.Errorf("CRM received event %s of type %q, want only known sessions", id, typ)
		}
	}
	target.mu.Unlock()
	t.Logf("200 webhooks: %d known delivered once each (after a 503 each), archive complete after a SIGKILL", len(known))

	for _, p := range append(syncs, archive, bridge) {
		p.Signal(t, syscall.SIGTERM)
		if code := p.Exit(t); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0; output:\n%s", filepath.Base(p.Cmd.Path), code, p.Logs)
		}
	}
}
