package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/ingresstest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startBridge runs the bridge's handler on loopback over a real JetStream
// server and returns its webhook URL and the stream's reader.
func startBridge(t *testing.T, secret string) (string, jetstream.JetStream) {
	t.Helper()
	b := ingresstest.Start(t, secret)
	return b.URL, b.JS
}

func TestSendSamples(t *testing.T) {
	t.Parallel()
	url, js := startBridge(t, "s3cret")
	for i, sample := range []string{"known", "unknown"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"--url", url, "--sample", sample}, clitest.Env(map[string]string{"STORYLANE_WEBHOOK_SECRET": "s3cret,older"}), &out)
		if err != nil {
			t.Fatalf("storylane-send --sample %s = %v; printed %s", sample, err, out.String())
		}
		if !strings.HasPrefix(out.String(), "HTTP/1.1 200 OK\n") || !strings.Contains(out.String(), `"type":"storylane.session.`+sample+`"`) {
			t.Errorf("storylane-send --sample %s printed %q, want the 200 answer with the event type", sample, out.String())
		}
		if n := len(natstest.Messages(t, js, "STORYLANE")); n != i+1 {
			t.Errorf("stream holds %d messages after sending %s, want %d", n, sample, i+1)
		}
	}
}

func TestSendFileWithSecretFile(t *testing.T) {
	t.Parallel()
	url, js := startBridge(t, "from-file")
	dir := t.TempDir()
	payload := []byte("{\"id\":\"custom\",\"brand_new_field\":[1,2]}\n")
	os.WriteFile(filepath.Join(dir, "payload.json"), payload, 0o600)
	os.WriteFile(filepath.Join(dir, "secrets"), []byte("from-file\nolder\n"), 0o600)
	var out bytes.Buffer
	args := []string{"--url", url, "--file", filepath.Join(dir, "payload.json"), "--secret-file", filepath.Join(dir, "secrets")}
	if err := run(context.Background(), args, clitest.Env(nil), &out); err != nil {
		t.Fatalf("storylane-send --file = %v; printed %s", err, out.String())
	}
	msgs := natstest.Messages(t, js, "STORYLANE")
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Data, payload) {
		t.Errorf("stream holds %d messages, want the file byte for byte", len(msgs))
	}
}

func TestSendReportsRejection(t *testing.T) {
	t.Parallel()
	url, _ := startBridge(t, "right")
	var out bytes.Buffer
	err := run(context.Background(), []string{"--url", url}, clitest.Env(map[string]string{"STORYLANE_WEBHOOK_SECRET": "wrong"}), &out)
	if err == nil || cli.Exit(&bytes.Buffer{}, "x", err) != 1 || !strings.Contains(out.String(), "401") {
		t.Errorf("storylane-send with the wrong secret = %v, printed %q; want exit 1 and the 401 answer", err, out.String())
	}
}

func TestSendUsageErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		vars map[string]string
	}{
		"no secret":    {nil, nil},
		"bad sample":   {[]string{"--sample", "maybe"}, map[string]string{"STORYLANE_WEBHOOK_SECRET": "x"}},
		"missing file": {[]string{"--file", "/nonexistent/payload.json"}, map[string]string{"STORYLANE_WEBHOOK_SECRET": "x"}},
	}
	for name, tt := range tests {
		if err := run(context.Background(), tt.args, clitest.Env(tt.vars), &bytes.Buffer{}); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("storylane-send (%s) = %v, want an error wrapping ErrUsage", name, err)
		}
	}
	if err := run(context.Background(), []string{"-h"}, clitest.Env(nil), &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("storylane-send -h = %v, want flag.ErrHelp", err)
	}
}

func TestHelpAndReadmeAgree(t *testing.T) {
	t.Parallel()
	clitest.CheckHelpInDocs(t, run)
}
