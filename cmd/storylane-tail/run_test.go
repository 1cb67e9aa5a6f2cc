package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode"

	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tail runs storylane-tail with args until it exits by itself (--count).
func tail(t *testing.T, args ...string) []string {
	t.Helper()
	var out clitest.Logs // safe to read while run writes to it
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, args, clitest.Env(nil), &out); err != nil {
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

func TestFollowsNewSessions(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	natstest.Publish(t, js, stream, natstest.SessionBody(1, false))
	done := make(chan []string)
	go func() { done <- tail(t, "--nats-url", srv.URL(), "--from-start", "--count", "3", "--type", "unknown") }()
	time.Sleep(300 * time.Millisecond)
	natstest.Publish(t, js, stream, natstest.SessionBody(2, true)) // known: filtered out
	natstest.Publish(t, js, stream, natstest.SessionBody(3, false))
	natstest.Publish(t, js, stream, natstest.SessionBody(4, false))
	select {
	case lines := <-done:
		if len(lines) != 3 || strings.Contains(strings.Join(lines, "\n"), " known ") {
			t.Errorf("tail printed %q, want the three unknown sessions", lines)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tail did not print three sessions")
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"bad type":       {"--type", "maybe"},
		"bad format":     {"--format", "xml"},
		"since and from": {"--since", "1h", "--from-start"},
		"negative count": {"--count", "-1"},
	} {
		if err := run(context.Background(), args, clitest.Env(nil), io.Discard); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("storylane-tail (%s) = %v, want a usage error", name, err)
		}
	}
}

func TestTextLineDropsControlCharacters(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	stream := natstest.DefaultStream(t, js)
	natstest.Publish(t, js, stream, []byte(`{"id":"s","name":"Demo\u001b[2J\u0007","lead":{"first_name":"Eve\u001b]0;pwned\u0007"}}`))
	lines := tail(t, "--nats-url", srv.URL(), "--from-start", "--count", "1")
	if strings.ContainsFunc(lines[0], unicode.IsControl) || !strings.Contains(lines[0], "Demo[2J") {
		t.Errorf("text line %q, want the names without control characters", lines[0])
	}
}

func TestHelpAndReadmeAgree(t *testing.T) {
	t.Parallel()
	clitest.CheckHelpInReadme(t, run)
}
