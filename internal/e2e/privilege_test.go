package e2e_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// violations connects as user and collects the permission errors the
// server reports.
type violations struct {
	mu   sync.Mutex
	errs []string
	nc   *nats.Conn
}

func connectAs(t *testing.T, c *cluster, user string) *violations {
	t.Helper()
	v := &violations{}
	nc, err := nats.Connect(c.urls(), nats.UserInfo(user, c.passwords[user]), nats.CustomInboxPrefix("_INBOX."+user),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.errs = append(v.errs, err.Error())
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	v.nc = nc
	return v
}

// refused reports whether the server refused an action on subject.
func (v *violations) refused(subject string) bool {
	return poll.Within(2*time.Second, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, e := range v.errs {
			if strings.Contains(e, "Permissions Violation") && strings.Contains(e, subject) {
				return true
			}
		}
		return false
	})
}

// tryAll publishes to each subject (a subscription for those starting with
// "sub ") and reports every one the server did not refuse.
func (v *violations) tryAll(t *testing.T, user string, subjects ...string) {
	t.Helper()
	for _, s := range subjects {
		if sub, ok := strings.CutPrefix(s, "sub "); ok {
			v.nc.Subscribe(sub, func(*nats.Msg) {})
			s = sub
		} else {
			v.nc.Publish(s, []byte("{}"))
		}
		if !v.refused(s) {
			t.Errorf("the %s user was not refused %s", user, s)
		}
	}
}

// TestLeastPrivilege checks the users of deploy/nats against a real
// cluster: each program does its whole job as its user, and each user is
// refused what it must not do.
func TestLeastPrivilege(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster; skipped with -short")
	}
	c := startCluster(t)
	port := freePorts(t, 1)[0]
	c.startBridge(t, port) // creates the stream as the bridge user
	l := newLoad(6, 50, 5000, fmt.Sprintf("http://127.0.0.1:%d", port))
	l.run(t, nil)

	connectAs(t, c, "bridge").tryAll(t, "bridge",
		"sub storylane.>", "storylane.dlq.lead-sync", "$JS.API.CONSUMER.CREATE.STORYLANE.spy",
		"$JS.API.STREAM.PURGE.STORYLANE", "$JS.API.STREAM.DELETE.STORYLANE", "sub _INBOX.lead-sync.>")
	lead := connectAs(t, c, "lead-sync")
	lead.tryAll(t, "lead-sync",
		"storylane.session.known", "storylane.dlq.session-archive", "$JS.API.STREAM.PURGE.STORYLANE",
		"$JS.API.CONSUMER.MSG.NEXT.STORYLANE.session-archive", "$JS.API.CONSUMER.DELETE.STORYLANE.lead-sync",
		"$JS.API.CONSUMER.CREATE.STORYLANE.lead-sync.storylane.dlq.session-archive", "$JS.API.CONSUMER.CREATE.STORYLANE.lead-sync",
		"sub _INBOX.bridge.>")
	connectAs(t, c, "session-archive").tryAll(t, "session-archive",
		"storylane.session.unknown", "storylane.dlq.lead-sync", "$JS.API.STREAM.PURGE.STORYLANE",
		"$JS.API.CONSUMER.MSG.NEXT.STORYLANE.lead-sync", "$JS.API.CONSUMER.DELETE.STORYLANE.lead-sync",
		"$JS.API.CONSUMER.CREATE.STORYLANE.session-archive.storylane.dlq.lead-sync")

	// lead-sync, as its user: a rejecting CRM sends events to its dead
	// letters; once fixed, a re-drive delivers them.
	status := http.StatusBadRequest
	var mu sync.Mutex
	accepted := map[string]bool{}
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if status == http.StatusOK {
			accepted[r.Header.Get("Idempotency-Key")] = true
		}
		w.WriteHeader(status)
	}))
	defer crm.Close()
	env := append(c.userEnv("lead-sync"), "CONSUMER_DELIVER=all")
	sync1 := clitest.StartProcess(t, binary("lead-sync"), env, "--target-url", crm.URL)
	sync1.Logs.Wait(t, "consuming")
	known := 0
	for _, id := range l.ids {
		if l.known[id] {
			known++
		}
	}
	poll.Eventually(t, "the known sessions dead-lettered", 30*time.Second, func() bool { return len(deadLetters(t, c.admin(), "lead-sync")) == known })
	sync1.Signal(t, syscall.SIGTERM)
	sync1.Exit(t)
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	redrive := clitest.StartProcess(t, binary("lead-sync"), env, "--target-url", crm.URL, "--redrive")
	if code := redrive.Exit(t); code != 0 {
		t.Fatalf("lead-sync --redrive as its user exited %d:\n%s", code, redrive.Logs)
	}
	mu.Lock()
	if len(accepted) != known {
		t.Errorf("after the re-drive the CRM accepted %d sessions, want the %d known", len(accepted), known)
	}
	mu.Unlock()

	// session-archive, as its user, archives and replays.
	dir := filepath.Join(t.TempDir(), "archive")
	for _, args := range [][]string{{"--dir", dir}, {"--dir", dir, "--replay"}} {
		p := clitest.StartProcess(t, binary("session-archive"), c.userEnv("session-archive"), args...)
		p.Logs.Wait(t, "consuming")
		// Its user may not create an ordered consumer, so a replay runs
		// through the durable alone.
		if slices.Contains(args, "--replay") && p.Logs.Find("the replay's ordered consumer stopped; the durable takes over") == nil {
			t.Errorf("session-archive --replay as its user did not fall back to its durable:\n%s", p.Logs)
		}
		poll.Eventually(t, "the archive complete", 30*time.Second, func() bool { return len(archived(t, dir)) == len(l.ids) })
		p.Signal(t, syscall.SIGTERM)
		if code := p.Exit(t); code != 0 {
			t.Errorf("session-archive %v as its user exited %d:\n%s", args, code, p.Logs)
		}
	}

	// storylane-tail is an operators' tool: it runs as admin.
	p := clitest.StartProcess(t, binary("storylane-tail"), c.userEnv("admin"), "--from-start", "--count", "6", "--format", "json")
	if code := p.Exit(t); code != 0 || strings.Count(p.Logs.String(), `"specversion"`) != 6 {
		t.Errorf("storylane-tail as admin exited %d printing %q, want the 6 sessions", code, p.Logs)
	}
}

// deadLetters reads the events on a consumer's dead-letter subject.
func deadLetters(t *testing.T, js jetstream.JetStream, consumer string) []string {
	t.Helper()
	var out []string
	for _, m := range allMessages(t, js) {
		if m.Subject == "storylane.dlq."+consumer {
			out = append(out, m.Header.Get("ce-id"))
		}
	}
	return out
}
