package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/stats"
	"github.com/storylane-bridge/storylane-bridge/internal/stats/statefile"
)

// statsRoutes are every figure session-stats serves, in both formats.
var statsRoutes = []string{"/api/overview", "/api/demos", "/api/campaigns", "/api/companies",
	"/api/demos?format=csv", "/api/campaigns?format=csv", "/api/companies?format=csv"}

// sessionStats runs the session-stats binary on natsURL with stateDir and
// returns it and the address of its API.
func sessionStats(t *testing.T, natsURL, stateDir string, args ...string) (*clitest.Process, string) {
	t.Helper()
	p := clitest.StartProcess(t, binary("session-stats"), nil, append([]string{"--nats-url", natsURL,
		"--listen", "127.0.0.1:0", "--state-dir", stateDir, "--snapshot-interval", "20ms"}, args...)...)
	return p, "http://" + p.Logs.Wait(t, "api listening")["addr"].(string)
}

// publishSessions stores sessions from to from+n-1 as the bridge would,
// many in flight at once (a publish waits up to 10 s for room among them):
// the replay must outlast a snapshot interval or two. Every seventh is
// sent twice, as a webhook delivered again (with its own message id, so
// that the stream keeps both and session-stats must count it once). It returns an error rather than failing the test: the
// live test calls it from another goroutine.
func publishSessions(js jetstream.JetStream, stream broker.StreamConfig, from, n int) error {
	for i := from; i < from+n; i++ {
		body := natstest.SessionBody(i, i%2 == 1)
		msg, err := natstest.SessionMsg(stream, body)
		if err != nil {
			return err
		}
		copies := 1
		if i%7 == 0 {
			copies = 2
		}
		for c := range copies {
			msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s/%d", cloudevent.ID(body), c))
			if _, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(10*time.Second)); err != nil {
				return err
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%d publishes still pending after 60s", js.PublishAsyncPending())
	}
}

// stored is how many messages publishSessions stores for n sessions.
func stored(n int) uint64 { return uint64(n + (n+6)/7) }

// waitCounted waits until the figures of api count sessions sessions:
// every one of the stream's, the duplicates once. A rebuild of tens of
// thousands takes longer than a log line is awaited under -race on a
// loaded machine, hence the minute.
func waitCounted(t *testing.T, api string, sessions int64) {
	t.Helper()
	poll.Eventually(t, fmt.Sprintf("%d sessions counted", sessions), 60*time.Second, func() bool {
		var o stats.Overview
		if err := json.Unmarshal([]byte(clitest.GetOK(t, api+"/api/overview")), &o); err != nil {
			t.Fatalf("GET /api/overview: %v", err)
		}
		return o.Totals.Sessions == sessions
	})
}

// sameAsRebuild checks every figure of api against a session-stats built
// from the stream's first event with --rebuild.
func sameAsRebuild(t *testing.T, natsURL, api string, sessions int) {
	t.Helper()
	_, fresh := sessionStats(t, natsURL, t.TempDir(), "--rebuild")
	waitCounted(t, fresh, int64(sessions))
	for _, route := range statsRoutes {
		if got, want := clitest.GetOK(t, api+route), clitest.GetOK(t, fresh+route); got != want {
			t.Errorf("GET %s after SIGKILL and restart = %s, want --rebuild's %s", route, got, want)
		}
	}
}

// snapshotSeq is the sequence the snapshot in dir resumes after; 0 when
// there is none yet.
func snapshotSeq(t *testing.T, dir string) uint64 {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, statefile.Name)); err != nil {
		return 0
	}
	a, err := statefile.Read(dir)
	if err != nil {
		t.Fatalf("statefile.Read(%s) = %v, want the last snapshot written whole", dir, err)
	}
	return a.Seq()
}

// TestStatsKilledDuringReplay: session-stats SIGKILLed while it reads the
// stream for the first time, after it wrote a snapshot of part of it, then
// restarted on the same state directory: it resumes from that snapshot and
// every figure equals a rebuild's.
func TestStatsKilledDuringReplay(t *testing.T) {
	t.Parallel()
	const n = 40000
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	if err := publishSessions(js, stream, 0, n); err != nil {
		t.Fatal(err)
	}

	state := t.TempDir()
	p, _ := sessionStats(t, srv.URL(), state)
	poll.Eventually(t, "a first snapshot", 30*time.Second, func() bool { return snapshotSeq(t, state) > 0 })
	p.Signal(t, syscall.SIGKILL)
	if got := p.Exit(t); got != -1 {
		t.Fatalf("exit status after SIGKILL = %d, want -1", got)
	}
	if seq := snapshotSeq(t, state); seq >= stored(n) {
		t.Fatalf("the snapshot at the kill covers sequence %d of %d: the replay was over before the kill", seq, stored(n))
	}

	p, api := sessionStats(t, srv.URL(), state)
	if seq := p.Logs.Wait(t, "resuming from the snapshot")["seq"].(float64); seq == 0 {
		t.Errorf("resumed at sequence 0, want the snapshot's")
	}
	waitCounted(t, api, int64(n))
	sameAsRebuild(t, srv.URL(), api, n)
}

// TestStatsKilledWhileFollowing: session-stats SIGKILLed while new events
// arrive, and restarted while they still do: once they stop, every figure
// equals a rebuild's.
func TestStatsKilledWhileFollowing(t *testing.T) {
	t.Parallel()
	const first, batch, batches = 2000, 100, 60
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	if err := publishSessions(js, stream, 0, first); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	p, api := sessionStats(t, srv.URL(), state)
	waitCounted(t, api, int64(first))

	var sent atomic.Int64 // batches stored
	var wg sync.WaitGroup
	wg.Go(func() {
		for b := range batches {
			if err := publishSessions(js, stream, first+b*batch, batch); err != nil {
				t.Error(err)
				return
			}
			sent.Add(1)
			time.Sleep(20 * time.Millisecond) // a steady flow, not one burst
		}
	})
	t.Cleanup(wg.Wait)
	poll.Eventually(t, "a snapshot of live events", 30*time.Second, func() bool {
		return snapshotSeq(t, state) > stored(first)
	})
	p.Signal(t, syscall.SIGKILL)
	p.Exit(t)
	if sent.Load() == batches {
		t.Fatalf("all %d batches were stored before the kill: it did not happen while following", batches)
	}
	_, api = sessionStats(t, srv.URL(), state)
	wg.Wait()
	const live = batch * batches
	waitCounted(t, api, int64(first+live))
	sameAsRebuild(t, srv.URL(), api, first+live)
}
