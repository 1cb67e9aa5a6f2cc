package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// embeddedBridge runs the bridge binary on its embedded broker, stores n
// sessions (every third known) and returns its broker's client URL, its data
// directory and the ids of the known sessions.
func embeddedBridge(t *testing.T, n int, args ...string) (natsURL, dataDir string, known map[string]bool) {
	t.Helper()
	dataDir = filepath.Join(t.TempDir(), "data")
	p := clitest.StartProcess(t, binary("storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET=" + secret, "BRIDGE_DATA_DIR=" + dataDir},
		append([]string{"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, args...)...)
	natsURL = p.Logs.Wait(t, "embedded nats started")["client_url"].(string)
	url := "http://" + p.Logs.Wait(t, "listening")["addr"].(string)
	known = map[string]bool{}
	for i := range n {
		body := natstest.SessionBody(i, i%3 == 0)
		if i%3 == 0 {
			known[cloudevent.ID(body)] = true
		}
		send(t, url, body)
	}
	return natsURL, dataDir, known
}

// TestEmbeddedListenerConsumers: with no flag and no credentials, every
// consumer binary does its whole job through the embedded broker's
// listener (lead-sync dead-letters and re-drives, session-archive archives
// and replays with its ordered consumer, storylane-tail replays), while a
// client there is refused a forged known session and a stream delete.
func TestEmbeddedListenerConsumers(t *testing.T) {
	t.Parallel()
	const n = 9
	natsURL, _, known := embeddedBridge(t, n)
	env := []string{"NATS_URL=" + natsURL}

	var mu sync.Mutex
	status, accepted := http.StatusBadRequest, map[string]bool{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if status == http.StatusOK {
			accepted[r.Header.Get("Idempotency-Key")] = true
		}
		w.WriteHeader(status)
	}))
	defer target.Close()
	lead := clitest.StartProcess(t, binary("lead-sync"), append(env, "CONSUMER_DELIVER=all"), "--target-url", target.URL)
	lead.Logs.Wait(t, "consuming")
	js := readerJetStream(t, natsURL)
	poll.Eventually(t, "the known sessions dead-lettered", 30*time.Second, func() bool { return len(deadLetters(t, js, "lead-sync")) == len(known) })
	lead.Signal(t, syscall.SIGTERM)
	lead.Exit(t)
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	redrive := clitest.StartProcess(t, binary("lead-sync"), env, "--target-url", target.URL, "--redrive")
	if code := redrive.Exit(t); code != 0 {
		t.Fatalf("lead-sync --redrive exited %d:\n%s", code, redrive.Logs)
	}
	mu.Lock()
	if len(accepted) != len(known) {
		t.Errorf("after the re-drive the target accepted %d sessions, want the %d known", len(accepted), len(known))
	}
	mu.Unlock()

	dir := filepath.Join(t.TempDir(), "archive")
	for _, args := range [][]string{{"--dir", dir}, {"--dir", dir, "--replay"}} {
		p := clitest.StartProcess(t, binary("session-archive"), env, args...)
		p.Logs.Wait(t, "consuming")
		poll.Eventually(t, "the archive complete", 30*time.Second, func() bool { return len(archived(t, dir)) == n })
		p.Signal(t, syscall.SIGTERM)
		if code := p.Exit(t); code != 0 {
			t.Errorf("session-archive %v exited %d:\n%s", args, code, p.Logs)
		}
		if p.Logs.Find("the replay's ordered consumer stopped; the durable takes over") != nil {
			t.Errorf("session-archive %v could not use its ordered consumer on the embedded listener:\n%s", args, p.Logs)
		}
	}

	tail := clitest.StartProcess(t, binary("storylane-tail"), env, "--from-start", "--count", fmt.Sprint(n), "--format", "json")
	if code := tail.Exit(t); code != 0 || strings.Count(tail.Logs.String(), `"specversion"`) != n {
		t.Errorf("storylane-tail --from-start exited %d printing %q, want the %d sessions", code, tail.Logs, n)
	}

	forgeAndDelete(t, natsURL, uint64(n+len(known)))
}

// forgeAndDelete tries, as a listener client without credentials, to store
// a forged known session and to delete the stream; both must be refused and
// the stream must still hold want messages.
func forgeAndDelete(t *testing.T, natsURL string, want uint64) {
	t.Helper()
	errs := make(chan error, 16)
	nc, err := nats.Connect(natsURL, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	msg := &nats.Msg{Subject: "storylane.session.known", Header: nats.Header{"ce-id": {"forged"}, "ce-type": {"storylane.session.known"}},
		Data: []byte(`{"id":"forged","lead":{"email":"x@example.org"}}`)}
	if _, err := js.PublishMsg(short(), msg); err == nil {
		t.Error("a forged storylane.session.known was acknowledged")
	}
	if err := js.DeleteStream(short(), "STORYLANE"); err == nil {
		t.Error("the stream was deleted by a client of the listener")
	}
	var violations []string
	for len(violations) < 2 {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) {
				violations = append(violations, err.Error())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("permission violations reported = %q, want the publish and the delete", violations)
		}
	}
	info, err := readerJetStream(t, natsURL).Stream(context.Background(), "STORYLANE")
	if err != nil {
		t.Fatalf("the stream after the attempts: %v", err)
	}
	if got := info.CachedInfo().State.Msgs; got != want {
		t.Errorf("the stream after a forged publish holds %d messages, want %d", got, want)
	}
}

func readerJetStream(t *testing.T, natsURL string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		t.Fatalf("connect to the embedded listener: %v", err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	return js
}

// TestEmbeddedListenerNKeyAuth: with --nats-listen-auth nkey the bridge
// writes the reader's nkey seed 0600 under --data-dir; a client without it
// is refused, and a consumer given it with NATS_NKEY reads.
func TestEmbeddedListenerNKeyAuth(t *testing.T) {
	t.Parallel()
	const n = 3
	natsURL, dataDir, _ := embeddedBridge(t, n, "--nats-listen-auth", "nkey")
	seed := filepath.Join(dataDir, "reader.nk")
	if st, err := os.Stat(seed); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("reader seed %s: %v, %v; want a 0600 file", seed, st, err)
	}
	if nc, err := nats.Connect(natsURL); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Errorf("connect without the nkey = %v, want %v", err, nats.ErrAuthorization)
	}
	tail := clitest.StartProcess(t, binary("storylane-tail"), []string{"NATS_URL=" + natsURL, "NATS_NKEY=" + seed},
		"--from-start", "--count", fmt.Sprint(n), "--format", "json")
	if code := tail.Exit(t); code != 0 || strings.Count(tail.Logs.String(), `"specversion"`) != n {
		t.Errorf("storylane-tail with NATS_NKEY exited %d printing %q, want the %d sessions", code, tail.Logs, n)
	}
}
