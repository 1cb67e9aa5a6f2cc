package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// crm is a target that fails the first attempts of every event with 503
// and counts what it accepted.
type crm struct {
	mu       sync.Mutex
	failures int               // 503s before accepting an event
	status   int               // answer once failures are spent
	attempts map[string]int    // by Idempotency-Key
	accepted map[string]int    // 2xx answers by Idempotency-Key
	types    map[string]string // ce-type by Idempotency-Key
}

func newCRM(t *testing.T, failures, status int) (*crm, string) {
	t.Helper()
	c := &crm{failures: failures, status: status, attempts: map[string]int{}, accepted: map[string]int{}, types: map[string]string{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

func (c *crm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	key := r.Header.Get("Idempotency-Key")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts[key]++
	c.types[key] = r.Header.Get("Ce-Type")
	if c.attempts[key] <= c.failures {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if c.status/100 == 2 {
		c.accepted[key]++
	}
	w.WriteHeader(c.status)
}

func (c *crm) snapshot() (accepted map[string]int, types map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	accepted, types = map[string]int{}, map[string]string{}
	for k, v := range c.accepted {
		accepted[k] = v
	}
	for k, v := range c.types {
		types[k] = v
	}
	return accepted, types
}

type fixture struct{ natstest.Fixture }

func newFixture(t *testing.T) fixture { return fixture{natstest.NewFixture(t)} }

// publish stores n sessions, known when i is odd, and returns the ids of
// the known ones and of the unknown ones.
func (f fixture) publish(t *testing.T, from, n int) (known, unknown []string) {
	t.Helper()
	for i := from; i < from+n; i++ {
		id := natstest.Publish(t, f.JS, f.Stream, natstest.SessionBody(i, i%2 == 1))
		if i%2 == 1 {
			known = append(known, id)
		} else {
			unknown = append(unknown, id)
		}
	}
	return known, unknown
}

func (f fixture) args(target string, extra ...string) []string {
	return append([]string{"--nats-url", f.NATS.URL(), "--target-url", target, "--backoff", "20ms,50ms"}, extra...)
}

func TestEveryKnownSessionArrivesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	target, url := newCRM(t, 2, http.StatusCreated)
	r := clitest.Start(t, run, f.args(url), nil)
	r.Logs.Wait(t, "consuming")
	known, unknown := f.publish(t, 0, 40)
	poll.Eventually(t, "all known sessions accepted", 20*time.Second, func() bool {
		accepted, _ := target.snapshot()
		return len(accepted) == len(known)
	})
	time.Sleep(200 * time.Millisecond) // room for a stray redelivery to show
	accepted, types := target.snapshot()
	for _, id := range known {
		if accepted[id] != 1 {
			t.Errorf("known event %s accepted %d times, want exactly once", id, accepted[id])
		}
	}
	for _, id := range unknown {
		if _, ok := types[id]; ok {
			t.Errorf("unknown event %s reached the target", id)
		}
	}
	for id, typ := range types {
		if typ != "storylane.session.known" {
			t.Errorf("event %s reached the target with type %q", id, typ)
		}
	}
	if err := r.Stop(t); err != nil {
		t.Errorf("lead-sync after stop = %v, want nil", err)
	}
}

func TestRejectedSessionsAreDeadLettered(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	target, url := newCRM(t, 0, http.StatusBadRequest)
	r := clitest.Start(t, run, f.args(url), nil)
	r.Logs.Wait(t, "consuming")
	known, _ := f.publish(t, 0, 6)
	dead := waitDeadLetters(t, f, len(known))
	for _, m := range dead {
		if m.Header.Get(consume.DeadLetterAttemptsHeader) != "1" || !strings.Contains(m.Header.Get(consume.DeadLetterReasonHeader), "400") {
			t.Errorf("dead letter after a 400: attempts %q reason %q, want 1 attempt and the status",
				m.Header.Get(consume.DeadLetterAttemptsHeader), m.Header.Get(consume.DeadLetterReasonHeader))
		}
	}
	r.Stop(t)

	// The CRM is fixed: a re-drive delivers the dead letters and exits.
	redriveFixed(t, f, target, url)
	accepted, _ := target.snapshot()
	for _, id := range known {
		if accepted[id] != 1 {
			t.Errorf("after the re-drive, event %s accepted %d times, want 1", id, accepted[id])
		}
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"no target":          nil,
		"ftp target":         {"--target-url", "ftp://example.com"},
		"bad mode":           {"--target-url", "http://127.0.0.1:1", "--target-mode", "carrier-pigeon"},
		"bad backoff":        {"--target-url", "http://127.0.0.1:1", "--backoff", "1s,soon"},
		"zero max deliver":   {"--target-url", "http://127.0.0.1:1", "--max-deliver", "0"},
		"bad deliver policy": {"--target-url", "http://127.0.0.1:1", "--deliver", "some"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			err := run(t.Context(), args, clitest.Env(nil), io.Discard)
			if !errors.Is(err, cli.ErrUsage) {
				t.Errorf("lead-sync %v = %v, want a usage error", args, err)
			}
		})
	}
}

func TestAdminListener(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, url := newCRM(t, 0, http.StatusOK)
	r := clitest.Start(t, run, f.args(url, "--admin-listen", "127.0.0.1:0"), nil)
	addr := r.Logs.Wait(t, "admin listening")["addr"].(string)
	r.Logs.Wait(t, "consuming")
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusOK, "/debug/pprof/": http.StatusNotFound} {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, res.StatusCode, want)
		}
	}
	f.NATS.Stop()
	poll.Eventually(t, "readyz to turn 503 without the broker", 20*time.Second, func() bool {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusServiceUnavailable
	})
}

// TestPprofWhenAsked: $ADMIN_PPROF (or --pprof) adds the profiles to the
// admin listener; TestAdminListener shows them absent by default.
func TestPprofWhenAsked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, url := newCRM(t, 0, http.StatusOK)
	r := clitest.Start(t, run, f.args(url, "--admin-listen", "127.0.0.1:0"), map[string]string{"ADMIN_PPROF": "true"})
	addr := r.Logs.Wait(t, "admin listening")["addr"].(string)
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /debug/pprof/goroutine with ADMIN_PPROF=true = %d, want 200", res.StatusCode)
	}
}

func TestHelpAndReadmeAgree(t *testing.T) {
	t.Parallel()
	clitest.CheckHelpInDocs(t, run)
}

// forgedDeadLetter is a known session no one signed, published as a dead
// letter of lead-sync naming stream sequence seq: what a client allowed
// to publish dead letters (the embedded broker's readers) can store.
func forgedDeadLetter(t *testing.T, f fixture, i int, seq string) string {
	t.Helper()
	raw := natstest.SessionBody(i, true)
	s, err := storylane.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	e, err := cloudevent.FromSession(s, raw, time.Now(), cloudevent.DefaultOrigin())
	if err != nil {
		t.Fatal(err)
	}
	msg := cloudevent.DefaultEncoder().Msg(f.Stream.Subjects.DeadLetter("lead-sync"), s.Summary(), raw, time.Now())
	msg.Header.Set(consume.DeadLetterSeqHeader, seq)
	msg.Header.Set(consume.DeadLetterAttemptsHeader, "1")
	if _, err := f.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	return e.ID()
}

func TestRedriveForwardsNoForgedDeadLetter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	target, url := newCRM(t, 0, http.StatusBadRequest)
	r := clitest.Start(t, run, f.args(url), nil)
	r.Logs.Wait(t, "consuming")
	known, _ := f.publish(t, 0, 4)
	genuine := waitDeadLetters(t, f, len(known))
	r.Stop(t)

	forged := []string{
		forgedDeadLetter(t, f, 101, "1000000"),                                          // names no message
		forgedDeadLetter(t, f, 103, genuine[0].Header.Get(consume.DeadLetterSeqHeader)), // names one with other data
	}
	redrive := redriveFixed(t, f, target, url)
	accepted, types := target.snapshot()
	for _, id := range known {
		if accepted[id] != 1 {
			t.Errorf("after the re-drive, genuine event %s accepted %d times, want 1", id, accepted[id])
		}
	}
	for _, id := range forged {
		if _, ok := types[id]; ok {
			t.Errorf("forged dead letter %s reached the CRM", id)
		}
	}
	if !strings.Contains(redrive.Logs.String(), "refused") {
		t.Errorf("re-drive logs say nothing of the refused dead letters:\n%s", redrive.Logs.String())
	}
}

// waitDeadLetters waits until lead-sync's dead letters number n, and
// returns them.
func waitDeadLetters(t *testing.T, f fixture, n int) []*jetstream.RawStreamMsg {
	t.Helper()
	var dead []*jetstream.RawStreamMsg
	poll.Eventually(t, "every known session dead-lettered", 20*time.Second, func() bool {
		dead = dead[:0]
		for _, m := range natstest.Messages(t, f.JS, f.Stream.Name) {
			if m.Subject == f.Stream.Subjects.DeadLetter("lead-sync") {
				dead = append(dead, m)
			}
		}
		return len(dead) == n
	})
	return dead
}

// redriveFixed makes target accept everything, as a CRM that was fixed,
// and runs lead-sync --redrive against it to its end.
func redriveFixed(t *testing.T, f fixture, target *crm, url string) *clitest.Running {
	t.Helper()
	target.mu.Lock()
	target.status = http.StatusOK
	target.mu.Unlock()
	redrive := clitest.Start(t, run, f.args(url, "--redrive"), nil)
	if err := redrive.Wait(t); err != nil {
		t.Fatalf("lead-sync --redrive = %v, want nil", err)
	}
	return redrive
}
