package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/hub"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func hubCmd(args ...string) (string, error) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, args, clitest.Env(nil), &out, io.Discard)
	return out.String(), err
}

func TestHelpAndReadmeAgree(t *testing.T) {
	clitest.CheckHelpInDocs(t, func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		return run(ctx, args, getenv, stdout, io.Discard)
	})
}

func TestUsageMistakes(t *testing.T) {
	for _, args := range [][]string{
		{"--edges", "a"}, // no window
		{"--edges", "a", "--duplicate-window", "0s"},   // window 0
		{"--edges", "a,a", "--duplicate-window", "1h"}, // one deliver subject twice
		{"--edges", "a.b", "--duplicate-window", "1h"}, // not a name
		{"--check", "--format", "yaml"},
	} {
		if _, err := hubCmd(args...); !errors.Is(err, cli.ErrUsage) || cli.Exit(io.Discard, "storylane-hub", err) != 2 {
			t.Errorf("storylane-hub %v = %v, want a usage error (exit 2)", args, err)
		}
	}
}

func TestSetUpThenCheck(t *testing.T) {
	h := natstest.StartHub(t)
	natstest.StartEdge(t, "a", h)
	out, err := hubCmd("--nats-url", h.URL(), "--duplicate-window", "2h", "--edges", "a,b", "--edge-timeout", "1s")
	if err != nil || !strings.Contains(out, "edge a: source added") || !strings.Contains(out, "edge b: source added") ||
		!strings.Contains(out, "edge b: does not answer through the hub yet") || strings.Contains(out, "edge a: does not answer") {
		t.Fatalf("storylane-hub --edges a,b with b down = %q, %v, want both added and b said to be silent", out, err)
	}
	natstest.StartEdge(t, "b", h)
	out, err = hubCmd("--nats-url", h.URL(), "--duplicate-window", "2h", "--edges", "a,b")
	if err != nil || !strings.Contains(out, "edge a: source already declared") || !strings.Contains(out, "edge b: source already declared") {
		t.Fatalf("storylane-hub --edges a,b again = %q, %v, want both left as they are", out, err)
	}

	var report hub.Report
	poll.Eventually(t, "check healthy", 20*time.Second, func() bool {
		out, err = hubCmd("--nats-url", h.URL(), "--check", "--format", "json", "--max-silence", "3s")
		return err == nil && json.Unmarshal([]byte(out), &report) == nil
	})
	if !report.Healthy || report.Window != "2h0m0s" || len(report.Edges) != 2 || !report.Edges[1].Answers || report.Edges[1].SilentSeconds < 0 {
		t.Fatalf("--check --format json = %s, want both edges healthy and the 2h window", out)
	}

	out, err = hubCmd("--nats-url", h.URL(), "--check", "--edges", "a,c", "--edge-timeout", "500ms")
	lines := strings.Split(out, "\n")
	if !errors.Is(err, hub.ErrUnhealthy) || len(lines) < 3 || !strings.HasPrefix(lines[0], "EDGE  DECLARED  ACTIVE  SILENT") ||
		!strings.HasPrefix(lines[2], "c     no        no      never   0    no       UNHEALTHY") || !strings.Contains(out, "NOT HEALTHY") {
		t.Fatalf("--check --edges a,c = %q, %v, want a table with c unhealthy and exit 1", out, err)
	}
}
