package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/stats"
	"github.com/storylane-bridge/storylane-bridge/internal/stats/statefile"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type fixture struct{ natstest.Fixture }

func newFixture(t *testing.T) fixture { return fixture{natstest.NewFixture(t)} }

// publish stores sessions from to from+n-1 as the bridge would: known when
// i is odd, viewed on 2024-05-17, 18 or 19 as i%3 is 0, 1 or 2.
func (f fixture) publish(t *testing.T, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		natstest.Publish(t, f.JS, f.Stream, natstest.SessionBody(i, i%2 == 1))
	}
}

// start runs session-stats and returns the address of its API and of its
// admin listener.
func (f fixture) start(t *testing.T, stateDir string, extra ...string) (*clitest.Running, string, string) {
	t.Helper()
	args := append([]string{"--nats-url", f.NATS.URL(), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--state-dir", stateDir, "--snapshot-interval", "100ms"}, extra...)
	r := clitest.Start(t, run, args, nil)
	api := r.Logs.Wait(t, "api listening")["addr"].(string)
	adm := r.Logs.Wait(t, "admin listening")["addr"].(string)
	return r, "http://" + api, "http://" + adm
}

func overview(t *testing.T, api, query string) stats.Overview {
	t.Helper()
	var o stats.Overview
	if err := json.Unmarshal([]byte(clitest.GetOK(t, api+"/api/overview"+query)), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func waitSessions(t *testing.T, api string, n int64) {
	t.Helper()
	poll.Eventually(t, fmt.Sprintf("%d sessions counted", n), 20*time.Second, func() bool {
		return overview(t, api, "").Totals.Sessions == n
	})
}

func TestFiguresFromTheStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publish(t, 0, 6)
	_, api, adm := f.start(t, t.TempDir())
	f.publish(t, 6, 4) // live
	f.publish(t, 0, 1) // a webhook sent again
	waitSessions(t, api, 10)
	// By hand: i = 0..9, known when odd; 17th: 0, 3, 6, 9 (known 3, 9);
	// 18th: 1, 4, 7 (known 1, 7); 19th: 2, 5, 8 (known 5).
	o := overview(t, api, "")
	if o.Totals.Known != 5 || o.Totals.Leads != 5 {
		t.Errorf("totals: known %d, leads %d, want 5, 5", o.Totals.Known, o.Totals.Leads)
	}
	want := []struct {
		day             string
		sessions, known int64
	}{{"2024-05-17", 4, 2}, {"2024-05-18", 3, 2}, {"2024-05-19", 3, 1}}
	if len(o.Days) != len(want) {
		t.Fatalf("days = %+v, want 3", o.Days)
	}
	for i, w := range want {
		if d := o.Days[i]; d.Day != w.day || d.Sessions != w.sessions || d.Known != w.known {
			t.Errorf("day %d = %s %d sessions %d known, want %s %d %d", i, d.Day, d.Sessions, d.Known, w.day, w.sessions, w.known)
		}
	}
	if got := overview(t, api, "?from=2024-05-18&to=2024-05-18&demo=Product+Demo").Totals; got.Sessions != 3 || got.Known != 2 {
		t.Errorf("18th: sessions %d known %d, want 3, 2", got.Sessions, got.Known)
	}
	page, row := clitest.GetOK(t, api+"/?from=2024-05-18&to=2024-05-18"), `<tr><th scope="row">2024-05-18</th><td>3</td><td>2</td><td>1</td>`
	if !strings.Contains(page, row) {
		t.Errorf("GET / = %s, want the 18th's row %s", page, row)
	}
	if got := clitest.GetOK(t, api+"/api/companies?format=csv"); !strings.Contains(got, "Acme Inc,example.com,,,5,") {
		t.Errorf("companies CSV = %s, want Acme Inc with 5 sessions", got)
	}
	metrics := clitest.GetOK(t, adm+"/metrics")
	for _, m := range []string{"storylane_stats_events_applied_total 10", "storylane_stats_lag_events 0",
		"storylane_stats_snapshot_age_seconds", "storylane_stats_rebuild_duration_seconds", "storylane_stats_last_read_timestamp_seconds "} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
	if regexp.MustCompile(`(?m)^storylane_stats_last_read_timestamp_seconds 0$`).MatchString(metrics) {
		t.Error("/metrics: storylane_stats_last_read_timestamp_seconds 0 after reading, want the time of the last read")
	}
	clitest.GetOK(t, adm+"/readyz")
}

// No route, in either format, and not the dashboard, shows a lead's e-mail or name.
func TestNoLeadIdentity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publish(t, 0, 6)
	_, api, _ := f.start(t, t.TempDir())
	waitSessions(t, api, 6)
	for _, path := range []string{"/", "/api/overview", "/api/demos", "/api/campaigns", "/api/companies"} {
		for _, format := range []string{"json", "csv"} { // the dashboard ignores format
			body := clitest.GetOK(t, api+path+"?format="+format)
			for _, secret := range []string{"@example.com", "Lee", "lead-1", "D1", "D3", "D5"} {
				if strings.Contains(body, secret) {
					t.Errorf("GET %s?format=%s shows %q: %s", path, format, secret, body)
				}
			}
		}
	}
}

// Stopped, then restarted after more events: it resumes from its snapshot
// and every figure equals a rebuild's from the first event.
func TestRestartEqualsRebuild(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	state := f.counted(t, 7)
	f.publish(t, 7, 5)
	f.publish(t, 2, 2) // sent again, after the snapshot
	r, api, _ := f.start(t, state)
	if seq := r.Logs.Wait(t, "resuming from the snapshot")["seq"].(float64); seq != 7 {
		t.Errorf("resumed at sequence %v, want 7", seq)
	}
	waitSessions(t, api, 12)
	_, fresh, _ := f.start(t, state, "--rebuild", "--state-dir", t.TempDir())
	waitSessions(t, fresh, 12)
	for _, path := range []string{"/api/overview", "/api/demos", "/api/campaigns", "/api/companies"} {
		if got, want := clitest.GetOK(t, api+path), clitest.GetOK(t, fresh+path); got != want {
			t.Errorf("GET %s after a restart = %s, want the rebuild's %s", path, got, want)
		}
	}
}

// A snapshot that cannot be trusted is refused, said so, and the figures
// rebuilt from the first event.
func TestCorruptSnapshotRebuilds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, statefile.Name), []byte("storylane-stats snapshot v1\n\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.publish(t, 0, 4)
	r, api, _ := f.start(t, state)
	r.Logs.Wait(t, "snapshot refused; rebuilding from the stream's first event")
	waitSessions(t, api, 4)
}

// A stream created again makes it rebuild, whether it holds fewer events
// than were counted or more by the time session-stats starts again: its
// new events would otherwise be skipped, and the old ones still counted.
func TestStreamCreatedAgainRebuilds(t *testing.T) {
	t.Parallel()
	for _, again := range []int{2, 9} { // 6 counted before
		t.Run(fmt.Sprint(again, " events"), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			state := f.counted(t, 6)
			f.createAgain(t)
			f.publish(t, 20, again)
			r, api, _ := f.start(t, state)
			r.Logs.Wait(t, "the stream is not the one counted (created again); rebuilding from its first event")
			waitSessions(t, api, int64(again))
		})
	}
}

// A stream deleted and created again while session-stats follows it:
// nats.go's ordered consumer goes on reading it from the old sequence, and
// session-stats must notice (it asks the server) and count again from the
// new stream's first event.
func TestStreamCreatedAgainWhileFollowing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publish(t, 0, 6)
	r, api, _ := f.start(t, t.TempDir())
	waitSessions(t, api, 6)
	f.createAgain(t)
	f.publish(t, 20, 3)
	r.Logs.Wait(t, "the stream is not the one counted (created again); rebuilding from its first event")
	waitSessions(t, api, 3)
	// Caught up twice: with the first stream, and again with the new one.
	poll.Eventually(t, "caught up with the new stream", 20*time.Second, func() bool {
		return strings.Count(r.Logs.String(), "caught up with the stream") == 2
	})
	f.publish(t, 30, 5)
	waitSessions(t, api, 8)
}

// While the broker is down the time of the last read stops (the lag keeps
// its last value, so only this can tell), and it moves again once the
// broker is back.
func TestLastReadStopsWhileTheBrokerIsDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publish(t, 0, 3)
	_, api, adm := f.start(t, t.TempDir())
	waitSessions(t, api, 3)
	f.NATS.Stop()
	time.Sleep(2 * idleWait) // a read under way when it stopped may still end
	before := lastRead(t, adm)
	time.Sleep(3 * idleWait)
	if after := lastRead(t, adm); after != before {
		t.Errorf("last read moved from %v to %v with the broker down, want it stopped", before, after)
	}
	f.NATS.Restart()
	poll.Eventually(t, "a read once the broker is back", 30*time.Second, func() bool { return lastRead(t, adm) > before })
}

// idleWait is how long session-stats waits for an event before it asks the
// server whether the stream has more (follow.idleWait).
const idleWait = time.Second

func lastRead(t *testing.T, admin string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^storylane_stats_last_read_timestamp_seconds (\S+)$`).FindStringSubmatch(clitest.GetOK(t, admin+"/metrics"))
	if m == nil {
		t.Fatal("/metrics has no storylane_stats_last_read_timestamp_seconds")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// counted publishes sessions 0 to n-1, runs session-stats until it has
// counted them, stops it, and returns its state directory.
func (f fixture) counted(t *testing.T, n int) (stateDir string) {
	t.Helper()
	stateDir = t.TempDir()
	f.publish(t, 0, n)
	r, api, _ := f.start(t, stateDir)
	waitSessions(t, api, int64(n))
	if err := r.Stop(t); err != nil {
		t.Fatalf("run() = %v", err)
	}
	return stateDir
}

// createAgain deletes the stream and creates it again, empty.
func (f fixture) createAgain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.JS.DeleteStream(ctx, f.Stream.Name); err != nil {
		t.Fatal(err)
	}
	// Right after a delete the server may refuse the same name for a moment
	// (a 500, JetStream error 10049, seen under load).
	poll.Eventually(t, "the stream created again", 10*time.Second, func() bool {
		_, err := broker.EnsureStream(ctx, f.JS, f.Stream)
		return err == nil
	})
}

// A message that is not an event is left out of the figures, said so, and
// passed: the events after it count.
func TestNotAnEventSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publish(t, 0, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.JS.Publish(ctx, f.Stream.Subjects.Session(false), []byte(`not a session`)); err != nil {
		t.Fatal(err)
	}
	f.publish(t, 2, 2)
	r, api, _ := f.start(t, t.TempDir())
	waitSessions(t, api, 4)
	if e := r.Logs.Wait(t, "not an event; not counted"); e["seq"].(float64) != 3 {
		t.Errorf("skipped seq %v, want 3", e["seq"])
	}
}

func TestHelpAndReadmeAgree(t *testing.T) {
	t.Parallel()
	clitest.CheckHelpInDocs(t, run)
}
