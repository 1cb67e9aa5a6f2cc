package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/archive"
	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type fixture struct {
	nats   *natstest.Server
	js     jetstream.JetStream
	stream broker.StreamConfig
	dir    string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	return fixture{nats: srv, js: js, stream: natstest.DefaultStream(t, js), dir: filepath.Join(t.TempDir(), "archive")}
}

func (f fixture) publish(t *testing.T, from, n int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		ids = append(ids, natstest.Publish(t, f.js, f.stream, natstest.SessionBody(i, i%3 == 0)))
	}
	return ids
}

func (f fixture) start(t *testing.T, extra ...string) *clitest.Running {
	t.Helper()
	r := clitest.Start(t, run, append([]string{"--nats-url", f.nats.URL(), "--dir", f.dir}, extra...), nil)
	r.Logs.Wait(t, "consuming")
	return r
}

// archived reads every line of every partition: event id → day → count.
func (f fixture) archived(t *testing.T) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{}
	var stored map[string]time.Time
	parts, _ := filepath.Glob(filepath.Join(f.dir, "dt=*", "sessions.ndjson"))
	for _, p := range parts {
		day := strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "dt=")
		file, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var ev struct {
				ID   string          `json:"id"`
				Time time.Time       `json:"time"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("%s: line %q is not a CloudEvent: %v", p, sc.Text(), err)
			}
			if want := f.day(t, ev.ID, ev.Time, &stored); want != day || !json.Valid(ev.Data) || len(ev.Data) < 10 {
				t.Errorf("%s: event %s at %v with data %s, want partition %s and the session as JSON", p, ev.ID, ev.Time, ev.Data, want)
			}
			if out[ev.ID] == nil {
				out[ev.ID] = map[string]int{}
			}
			out[ev.ID][day]++
		}
		file.Close()
	}
	return out
}

// day is the partition of event id at t: t's day, or, for a time outside
// the years the archive files by, the day the stream stored it (read once
// per call of archived, into stored).
func (f fixture) day(t *testing.T, id string, at time.Time, stored *map[string]time.Time) string {
	t.Helper()
	if y := at.UTC().Year(); y >= archive.FirstYear && y <= archive.LastYear {
		return at.UTC().Format(time.DateOnly)
	}
	if *stored == nil {
		*stored = map[string]time.Time{}
		for _, m := range natstest.Messages(t, f.js, f.stream.Name) {
			(*stored)[m.Header.Get("ce-id")] = m.Time
		}
	}
	return archive.EventDay(at, (*stored)[id])
}

// brokenData is what publishBroken stores: a signed-looking event whose
// data is cut short, which the archive cannot write as a line.
var brokenData = []byte(`{"id":"broken","lead":`)

// publishBroken stores, with the bridge's headers, an event whose data is
// not JSON, and returns its ack.
func (f fixture) publishBroken(t *testing.T) *jetstream.PubAck {
	t.Helper()
	bad := cloudevent.DefaultEncoder().
		Msg(f.stream.Subjects.Session(true), storylane.Summary{ID: "broken", Known: true}, brokenData, time.Now())
	ack, err := f.js.PublishMsg(t.Context(), bad)
	if err != nil {
		t.Fatal(err)
	}
	return ack
}

// deadLetters reads the archive's dead-letter subject.
func (f fixture) deadLetters(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	var out []*jetstream.RawStreamMsg
	for _, m := range natstest.Messages(t, f.js, f.stream.Name) {
		if m.Subject == f.stream.Subjects.DeadLetter("session-archive") {
			out = append(out, m)
		}
	}
	return out
}

func checkExactlyOnce(t *testing.T, got map[string]map[string]int, ids []string) {
	t.Helper()
	if len(got) != len(ids) {
		t.Errorf("archive holds %d events, want %d", len(got), len(ids))
	}
	for _, id := range ids {
		n := 0
		for _, c := range got[id] {
			n += c
		}
		if n != 1 {
			t.Errorf("event %s archived %d times (%v), want once", id, n, got[id])
		}
	}
}

func TestArchivesEverySessionOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Published before the archive ever ran: a new archive starts from the
	// stream's first event.
	ids := f.publish(t, 0, 30)
	r := f.start(t)
	ids = append(ids, f.publish(t, 30, 30)...)
	poll.Eventually(t, "60 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 60 })
	if err := r.Stop(t); err != nil {
		t.Errorf("session-archive after stop = %v, want nil", err)
	}
	got := f.archived(t)
	checkExactlyOnce(t, got, ids)
	days, _ := filepath.Glob(filepath.Join(f.dir, "dt=*"))
	if len(days) != 3 {
		t.Errorf("archive has %d day partitions, want 3 (sessions span three days)", len(days))
	}

	// Restarted, it goes on where it stopped.
	f.start(t)
	ids = append(ids, f.publish(t, 60, 10)...)
	poll.Eventually(t, "70 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 70 })
	checkExactlyOnce(t, f.archived(t), ids)
}

// TestFilesAbsurdYearsByTheirReceipt: a viewed_at in year 0 (or any year
// outside 2000–2100) goes to the partition of the day the stream stored the
// event, whether the durable or a replay archives it.
func TestFilesAbsurdYearsByTheirReceipt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := []string{
		natstest.Publish(t, f.js, f.stream, []byte(`{"id":"year-0","viewed_at":"0000-01-01T00:00:00Z"}`)),
		natstest.Publish(t, f.js, f.stream, []byte(`{"id":"year-9999","viewed_at":"9999-12-31T00:00:00Z"}`)),
		natstest.Publish(t, f.js, f.stream, []byte(`{"id":"in-2024","viewed_at":"2024-05-17T10:58:05Z"}`)),
	}
	received := map[string]string{}
	for _, m := range natstest.Messages(t, f.js, f.stream.Name) {
		received[m.Header.Get("ce-id")] = m.Time.UTC().Format(time.DateOnly)
	}
	want := map[string]string{ids[0]: received[ids[0]], ids[1]: received[ids[1]], ids[2]: "2024-05-17"}
	check := func(how string) {
		t.Helper()
		got := f.archived(t)
		checkExactlyOnce(t, got, ids)
		for _, id := range ids {
			if got[id][want[id]] != 1 {
				t.Errorf("%s: event %s archived in %v, want dt=%s", how, id, got[id], want[id])
			}
		}
		if _, err := os.Stat(filepath.Join(f.dir, "dt=0000-01-01")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: dt=0000-01-01 exists (%v), want no partition for year 0", how, err)
		}
	}
	r := f.start(t)
	poll.Eventually(t, "3 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 3 })
	r.Stop(t)
	check("durable")

	parts, _ := filepath.Glob(filepath.Join(f.dir, "dt=*"))
	for _, p := range parts {
		os.RemoveAll(p)
	}
	r = f.start(t, "--replay")
	r.Stop(t)
	check("replay")
}

func TestDeadLettersDataThatIsNotJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publishBroken(t)
	ids := f.publish(t, 0, 3)
	f.start(t)
	poll.Eventually(t, "3 events archived and 1 dead-lettered", 20*time.Second, func() bool {
		return len(f.archived(t)) == 3 && len(f.deadLetters(t)) == 1
	})
	checkExactlyOnce(t, f.archived(t), ids)
	if dl := f.deadLetters(t)[0]; !bytes.Equal(dl.Data, brokenData) {
		t.Errorf("dead letter holds %q, want %q", dl.Data, brokenData)
	}
}

func TestReplayRebuildsTheArchive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.start(t)
	ids := f.publish(t, 0, 20)
	poll.Eventually(t, "20 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 20 })
	r.Stop(t)

	// One day is lost.
	parts, _ := filepath.Glob(filepath.Join(f.dir, "dt=*"))
	os.RemoveAll(parts[0])
	if len(f.archived(t)) == 20 {
		t.Fatal("removing a partition removed nothing")
	}
	r = f.start(t, "--replay")
	// Read by the ordered consumer before the durable opened.
	if read := r.Logs.Find("replay read the stream"); read == nil || read["events"] != float64(20) || read["first_not_archived"] != float64(21) {
		t.Errorf("replay logged %v, want all 20 events read (and a new durable from 21)", read)
	}
	checkExactlyOnce(t, f.archived(t), ids)

	// The durable, which had settled all 20, goes on where it was, and on
	// after a restart without --replay.
	ids = append(ids, f.publish(t, 20, 5)...)
	poll.Eventually(t, "25 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 25 })
	if err := r.Stop(t); err != nil {
		t.Fatalf("session-archive --replay after stop = %v, want nil", err)
	}
	f.start(t)
	ids = append(ids, f.publish(t, 25, 5)...)
	poll.Eventually(t, "30 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 30 })
	checkExactlyOnce(t, f.archived(t), ids)
	// Delivered by the durable: the first 20 and the 10 after, not the 20
	// again.
	if info, err := f.js.Consumer(t.Context(), f.stream.Name, "session-archive"); err != nil {
		t.Fatal(err)
	} else if got := info.CachedInfo().Delivered.Consumer; got != 30 {
		t.Errorf("the durable delivered %d events, want 30", got)
	}
}

// TestReplayStartsANewDurablePastWhatItRead: with no durable yet, the one
// created after the replay delivers only what came after it.
func TestReplayStartsANewDurablePastWhatItRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.publish(t, 0, 20)
	r := f.start(t, "--replay")
	checkExactlyOnce(t, f.archived(t), ids)
	ids = append(ids, f.publish(t, 20, 5)...)
	poll.Eventually(t, "25 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 25 })
	checkExactlyOnce(t, f.archived(t), ids)
	if info, err := f.js.Consumer(t.Context(), f.stream.Name, "session-archive"); err != nil {
		t.Fatal(err)
	} else if got := info.CachedInfo().Delivered.Consumer; got != 5 {
		t.Errorf("the new durable delivered %d events, want the 5 stored after the replay", got)
	}
	// A restart without --replay asks for everything: the durable keeps its
	// start, no conflict, nothing again.
	if err := r.Stop(t); err != nil {
		t.Fatal(err)
	}
	f.start(t)
	ids = append(ids, f.publish(t, 25, 5)...)
	poll.Eventually(t, "30 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 30 })
	checkExactlyOnce(t, f.archived(t), ids)
}

func TestReplayLeavesWhatItCannotArchiveToTheDurable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.publish(t, 0, 3)
	ack := f.publishBroken(t)
	ids = append(ids, f.publish(t, 3, 3)...)
	r := f.start(t, "--replay")
	if read := r.Logs.Find("replay read the stream"); read == nil || read["events"] != float64(6) ||
		read["not_archivable"] != float64(1) || read["first_not_archived"] != float64(ack.Sequence) {
		t.Errorf("replay logged %v, want 6 events read, 1 left over, and a new durable from %d", read, ack.Sequence)
	}
	poll.Eventually(t, "6 events archived and 1 dead-lettered", 20*time.Second, func() bool {
		return len(f.archived(t)) == 6 && len(f.deadLetters(t)) == 1
	})
	checkExactlyOnce(t, f.archived(t), ids)
}

// TestReplayOverADeliverNewDurable: a durable made to deliver new events
// only is started over at the event the replay could not archive, which
// it then dead-letters; nothing is skipped and nothing conflicts.
func TestReplayOverADeliverNewDurable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.publish(t, 0, 3)
	f.publishBroken(t)
	ids = append(ids, f.publish(t, 3, 3)...)
	r := f.start(t, "--deliver", "new")
	if err := r.Stop(t); err != nil {
		t.Fatal(err)
	}
	f.start(t, "--replay")
	poll.Eventually(t, "6 events archived and 1 dead-lettered", 20*time.Second, func() bool {
		return len(f.archived(t)) == 6 && len(f.deadLetters(t)) == 1
	})
	checkExactlyOnce(t, f.archived(t), ids)
}

// TestReplayKeepsADeliverNewDurable: a durable made to deliver new events
// only, and a replay that archives everything, go on together without a
// conflict.
func TestReplayKeepsADeliverNewDurable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := f.publish(t, 0, 3)
	r := f.start(t, "--deliver", "new")
	if err := r.Stop(t); err != nil {
		t.Fatal(err)
	}
	f.start(t, "--replay")
	checkExactlyOnce(t, f.archived(t), ids)
	ids = append(ids, f.publish(t, 3, 2)...)
	poll.Eventually(t, "5 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 5 })
	checkExactlyOnce(t, f.archived(t), ids)
}

// TestArchiveIsPrivate: the archive's files and directories are its user's
// alone, or its group's too with --group-readable (ARCHIVE_GROUP_READABLE),
// under the test's umask (internal/archive tests others).
func TestArchiveIsPrivate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name              string
		vars              map[string]string
		wantFile, wantDir os.FileMode
	}{
		{"default", nil, 0o600, 0o700},
		{"group", map[string]string{"ARCHIVE_GROUP_READABLE": "true"}, 0o640, 0o750},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ids := f.publish(t, 0, 3)
			r := clitest.Start(t, run, []string{"--nats-url", f.nats.URL(), "--dir", f.dir}, c.vars)
			r.Logs.Wait(t, "consuming")
			poll.Eventually(t, "3 events archived", 20*time.Second, func() bool { return len(f.archived(t)) == 3 })
			if err := r.Stop(t); err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, f.archived(t), ids)
			want := map[string]os.FileMode{f.dir: c.wantDir, filepath.Join(f.dir, ".lock"): c.wantFile}
			days, _ := filepath.Glob(filepath.Join(f.dir, "dt=*"))
			for _, d := range days {
				want[d], want[filepath.Join(d, "sessions.ndjson")] = c.wantDir, c.wantFile
			}
			for path, mode := range want {
				if info, err := os.Stat(path); err != nil {
					t.Error(err)
				} else if info.Mode().Perm() != mode {
					t.Errorf("mode of %s = %#o, want %#o", path, info.Mode().Perm(), mode)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"empty dir":          {"--dir", ""},
		"bad deliver":        {"--deliver", "later"},
		"bad prefix":         {"--subject-prefix", "a.>"},
		"zero flights":       {"--max-in-flight", "0"},
		"dotted name":        {"--durable", "a.b"},
		"replay and redrive": {"--replay", "--redrive"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := run(t.Context(), args, clitest.Env(nil), io.Discard); !errors.Is(err, cli.ErrUsage) {
				t.Errorf("session-archive %v = %v, want a usage error", args, err)
			}
		})
	}
}

// TestConflictingDurableIsAUsageError: an existing durable that delivers new
// events cannot be turned into one that delivers all; the archive says so
// and exits instead of waiting forever.
func TestConflictingDurableIsAUsageError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.js.CreateConsumer(t.Context(), f.stream.Name, jetstream.ConsumerConfig{Durable: "session-archive", DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "storylane.session.*"}); err != nil {
		t.Fatal(err)
	}
	r := clitest.Start(t, run, []string{"--nats-url", f.nats.URL(), "--dir", f.dir}, nil)
	if err := r.Wait(t); !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "deliver policy") {
		t.Errorf("session-archive over a deliver-new durable = %v, want a usage error about the deliver policy", err)
	}
}

// TestStopWhileWaitingIsNotAFailure: stopped (a signal cancels run's
// context) while it waits for its broker, with a replay to do, the archive
// ends without an error, and so with status 0.
func TestStopWhileWaitingIsNotAFailure(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	srv.Stop()
	r := clitest.Start(t, run, []string{"--nats-url", srv.URL(), "--dir", filepath.Join(t.TempDir(), "archive"), "--replay"}, nil)
	r.Logs.Wait(t, "waiting for the stream and the consumer")
	if err := r.Stop(t); err != nil {
		t.Errorf("session-archive stopped while waiting for its broker = %v, want nil", err)
	}
	r.Logs.Wait(t, "stopped before consuming")
}

// TestReplayIntoABrokenArchiveFails: an archive that breaks during a
// replay (here a partition that cannot be opened) ends the process with an
// error, not with the clean exit of a stop, though it stops the same way.
func TestReplayIntoABrokenArchiveFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.publish(t, 0, 1) // viewed on 2024-05-17
	if err := os.MkdirAll(filepath.Join(f.dir, "dt=2024-05-17", "sessions.ndjson"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := clitest.Start(t, run, []string{"--nats-url", f.nats.URL(), "--dir", f.dir, "--replay"}, nil)
	if err := r.Wait(t); err == nil || !strings.Contains(err.Error(), "sessions.ndjson") {
		t.Errorf("session-archive --replay into a partition it cannot open = %v, want the partition's error", err)
	}
}

func TestHelpAndReadmeAgree(t *testing.T) {
	t.Parallel()
	clitest.CheckHelpInDocs(t, run)
}
