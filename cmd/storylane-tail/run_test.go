package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tail runs storylane-tail with args until it exits by itself (--count),
// and returns the lines it printed on stdout.
func tail(t *testing.T, args ...string) []string {
	t.Helper()
	var out, status clitest.Logs // safe to read while run writes to them
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, args, clitest.Env(nil), &out, &status); err != nil {
		t.Fatalf("storylane-tail %v = %v", args, err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

func TestReplayAsJSON(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	var ids []string
	for i := range 6 {
		ids = append(ids, natstest.Publish(t, js, stream, natstest.SessionBody(i, i%2 == 0)))
	}
	lines := tail(t, "--nats-url", srv.URL(), "--from-start", "--count", "6", "--format", "json")
	if len(lines) != 6 {
		t.Fatalf("tail printed %d lines, want 6", len(lines))
	}
	for i, l := range lines {
		var ev struct {
			ID, Type string
			Data     map[string]any
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.ID != ids[i] || ev.Data["id"] == nil {
			t.Errorf("line %d = %s, want event %s as structured JSON", i, l, ids[i])
		}
	}
}

func TestKnownOnlyAsText(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	for i := range 6 {
		natstest.Publish(t, js, stream, natstest.SessionBody(i, i%2 == 0))
	}
	lines := tail(t, "--nats-url", srv.URL(), "--since", "1h", "--type", "known", "--count", "3")
	if len(lines) != 4 || lines[0] != header() || !strings.HasPrefix(lines[0], "VIEWED (UTC)          TYPE     DEMO") {
		t.Fatalf("tail printed %q, want a header line and three sessions", lines)
	}
	lines = lines[1:]
	for _, l := range lines {
		if !strings.Contains(l, "  known  ") || !strings.Contains(l, "Product Demo") || !strings.Contains(l, "Acme Inc / Lee D") {
			t.Errorf("text line %q, want time, known, demo name and company / lead", l)
		}
		if strings.Contains(l, "@example.com") {
			t.Errorf("text line %q shows a lead's e-mail", l)
		}
	}
	if !strings.HasPrefix(lines[0], "2024-05-17T10:00:00Z  known  ") || !strings.Contains(lines[0], "0%") {
		t.Errorf("first line %q, want the session's viewed_at, kind and completion", lines[0])
	}
}

// TestFollowsNewSessions also shows that tail says on stderr, before any
// session arrives, what it reads and that it waits.
func TestFollowsNewSessions(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	natstest.Publish(t, js, stream, natstest.SessionBody(1, false))
	var out, status clitest.Logs
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		done <- run(ctx, []string{"--nats-url", srv.URL(), "--from-start", "--count", "3", "--type", "unknown", "--format", "json"},
			clitest.Env(nil), &out, &status)
	}()
	poll.Eventually(t, "stderr says it waits for sessions", 15*time.Second, func() bool {
		return strings.Contains(status.String(), "waiting for sessions")
	})
	if want := "reading stream STORYLANE on nats://127.0.0.1:"; !strings.Contains(status.String(), want) ||
		!strings.Contains(status.String(), "unknown sessions, the whole stream first") {
		t.Errorf("stderr = %q, want %q, what it reads, and that it waits", status.String(), want)
	}
	natstest.Publish(t, js, stream, natstest.SessionBody(2, true)) // known: filtered out
	natstest.Publish(t, js, stream, natstest.SessionBody(3, false))
	natstest.Publish(t, js, stream, natstest.SessionBody(4, false))
	if err := <-done; err != nil {
		t.Fatalf("storylane-tail = %v", err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 3 || strings.Contains(out.String(), `storylane.session.known"`) {
		t.Errorf("tail printed %q, want the three unknown sessions", lines)
	}
}

// TestViewedSince shows the sessions viewed in the last duration, whenever
// they were stored: --since would show all four, stored a moment ago.
func TestViewedSince(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	now := time.Now().UTC()
	body := func(id string, viewed time.Duration) []byte {
		return fmt.Appendf(nil, `{"id":%q,"lead":null,"viewed_at":%q}`, id, now.Add(-viewed).Format(time.RFC3339))
	}
	natstest.Publish(t, js, stream, body("three-hours-ago", 3*time.Hour))
	natstest.Publish(t, js, stream, body("one-hour-ago", time.Hour))
	natstest.Publish(t, js, stream, body("yesterday", 24*time.Hour))
	natstest.Publish(t, js, stream, []byte(`{"id":"no-viewed-at","lead":null}`)) // counted by when it was stored
	lines := tail(t, "--nats-url", srv.URL(), "--viewed-since", "2h", "--count", "2", "--format", "json")
	var ids []string
	for _, l := range lines {
		var ev struct{ Data struct{ ID string } }
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		ids = append(ids, ev.Data.ID)
	}
	if want := []string{"one-hour-ago", "no-viewed-at"}; !slices.Equal(ids, want) {
		t.Errorf("tail --viewed-since 2h printed sessions %q, want %q", ids, want)
	}
}

// TestDeletesItsConsumerAtExit leaves nothing listed on the server.
func TestDeletesItsConsumerAtExit(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	natstest.Publish(t, js, stream, natstest.SessionBody(1, true))
	tail(t, "--nats-url", srv.URL(), "--from-start", "--count", "1")
	info, err := js.Stream(context.Background(), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if info.CachedInfo().State.Consumers != 0 {
		t.Errorf("consumers on the stream after tail exited = %d, want 0", info.CachedInfo().State.Consumers)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"bad type":       {"--type", "maybe"},
		"bad format":     {"--format", "xml"},
		"since and from": {"--since", "1h", "--from-start"},
		"since twice":    {"--since", "1h", "--viewed-since", "1h"},
		"negative view":  {"--viewed-since", "-1h"},
		"negative count": {"--count", "-1"},
	} {
		if err := run(context.Background(), args, clitest.Env(nil), io.Discard, io.Discard); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("storylane-tail (%s) = %v, want a usage error", name, err)
		}
	}
}

func TestTextLineEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	natstest.Publish(t, js, stream, []byte(`{"id":"s","name":"Demo\u001b[2J\u0007","lead":{"first_name":"Eve\u202egnp.exe"}}`))
	lines := tail(t, "--nats-url", srv.URL(), "--from-start", "--count", "1")[1:]
	if strings.ContainsFunc(lines[0], drives) || !strings.Contains(lines[0], `Demo\x1b[2J\x07`) || !strings.Contains(lines[0], `Eve\u202egnp.exe`) {
		t.Errorf("text line %q, want the names with control and bidi characters escaped", lines[0])
	}
}

func TestPrintableEscapesHostileText(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"Acme GmbH", "Acme GmbH"},
		{"Zoë Ünal 山田", "Zoë Ünal 山田"},
		{"clear\x1b[2J", `clear\x1b[2J`},
		{"title\x1b]0;pwned\x07", `title\x1b]0;pwned\x07`},
		{"cr\rover", `cr\x0dover`},
		{"new\nline\ttab", `new\x0aline\x09tab`},
		{"del\x7f", `del\x7f`},
		{"c1 csi\u009b2J", `c1 csi\u009b2J`},
		{"nel\u0085", `nel\u0085`},
		{"evil\u202egnp.exe", `evil\u202egnp.exe`}, // RIGHT-TO-LEFT OVERRIDE
		{"\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`},
		{"\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"lrm\u200erlm\u200falm\u061c", `lrm\u200erlm\u200falm\u061c`},
		{"zero\u200bwidth\u200djoin\ufeffbom", `zero\u200bwidth\u200djoin\ufeffbom`},
		{"line\u2028para\u2029", `line\u2028para\u2029`},
		{"tag\U000e0041", `tag\U000e0041`},
		{`back\u202eslash`, `back\\u202eslash`}, // an escape in the text cannot pass for one
		{"bad\xffutf8\x9b", "bad\ufffdutf8\ufffd"},
	}
	for _, c := range cases {
		if got := printable(c.in); got != c.want {
			t.Errorf("printable(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := printable(c.in); strings.ContainsFunc(got, drives) || !utf8.ValidString(got) {
			t.Errorf("printable(%q) = %q holds a character that drives the terminal", c.in, got)
		}
	}
}

// drives is a character that would drive the terminal.
func drives(r rune) bool { return r != '\\' && escaped(r) }

func TestHelpAndReadmeAgree(t *testing.T) {
	t.Parallel()
	clitest.CheckHelpInDocs(t, func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		return run(ctx, args, getenv, stdout, io.Discard)
	})
}

// TestBacklog: --backlog lists an edge's webhooks that the hub does not
// have yet, oldest first, read through the hub by domain, and --type and
// --count narrow it; a stream that keeps every event is refused.
func TestBacklog(t *testing.T) {
	t.Parallel()
	h := natstest.StartHub(t) // no hub stream: nothing is forwarded
	e := natstest.StartEdge(t, "tail", h)
	h.WaitEdgeReachable(t, e.Stream, "tail")
	var ids []string
	for i := range 5 {
		msg, err := natstest.SessionMsg(e.Stream, natstest.SessionBody(i, i%2 == 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Keeper.Publish(context.Background(), msg); err != nil {
			t.Fatalf("edge: Publish = %v", err)
		}
		ids = append(ids, msg.Header.Get("ce-id"))
	}
	var out, status clitest.Logs
	if err := run(context.Background(), []string{"--nats-url", h.URL(), "--js-domain", "edge-tail", "--backlog", "--format", "json"},
		clitest.Env(nil), &out, &status); err != nil {
		t.Fatalf("storylane-tail --backlog = %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	var got []string
	for _, l := range lines {
		var ev struct{ ID string }
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, ev.ID)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("storylane-tail --backlog printed %v, want the edge's 5 events in order %v", got, ids)
	}
	if s := status.String(); !strings.Contains(s, "edge backlog of STORYLANE") || !strings.Contains(s, "5 webhook(s)") || !strings.Contains(s, "domain edge-tail") {
		t.Errorf("storylane-tail --backlog said %q on stderr, want the backlog's size and where it was read", s)
	}

	known := tail(t, "--nats-url", h.URL(), "--js-domain", "edge-tail", "--backlog", "--type", "known", "--count", "2")
	if len(known) != 3 || !strings.HasPrefix(known[0], "VIEWED") || strings.Fields(known[1])[1] != "known" || strings.Fields(known[2])[1] != "known" {
		t.Errorf("storylane-tail --backlog --type known --count 2 = %q, want a header and two known sessions", known)
	}

	srv := natstest.Start(t)
	natstest.DefaultStream(t, srv.JetStream(t))
	err := run(context.Background(), []string{"--nats-url", srv.URL(), "--backlog"}, clitest.Env(nil), io.Discard, io.Discard)
	if !errors.Is(err, errNotABacklog) || !strings.Contains(err.Error(), "--js-domain") {
		t.Errorf("storylane-tail --backlog on a stream that keeps every event = %v, want errNotABacklog saying where to point it", err)
	}
}
