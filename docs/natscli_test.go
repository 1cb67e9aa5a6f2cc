package docs_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
)

// natsCLI is the nats CLI the examples are written for.
const natsCLI = "github.com/nats-io/natscli/nats@v0.5.0"

// exampleURL is the broker address the examples use, the embedded
// listener's default.
const exampleURL = "nats://127.0.0.1:4222"

// TestNatsCLIExamples runs every `nats` command of README.md and docs/
// with the nats CLI they name, against a real bridge on its embedded
// broker, as the restricted reader its listener lets in (with the reader's
// nkey where the example passes --nkey): each must work with the
// permissions a reading team has, and print what it is there for.
// Subscriptions, which follow until stopped, are stopped after a while.
// Edge mode's examples (--js-domain edge-<name>) run against a hub with an
// edge of that name, whose address they are given.
func TestNatsCLIExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the nats CLI")
	}
	t.Parallel()
	nats := installNatsCLI(t)
	var lines []command
	for _, p := range pages(t) {
		for _, b := range p.blocks {
			if !shellBlock(b.lang) {
				continue
			}
			for _, c := range shellCommands(p.path+":"+strconv.Itoa(b.line), b.lines) {
				if len(c.words) > 0 && c.words[0] == "nats" {
					lines = append(lines, c)
				}
			}
		}
	}
	if len(lines) < 6 {
		t.Fatalf("found %d nats commands in README.md and docs/, want those of events.md and more", len(lines))
	}
	open := startExampleBridge(t, "none")
	keyed := startExampleBridge(t, "nkey")
	hub := startExampleHub(t)
	for _, c := range lines {
		b := open
		switch {
		case slices.Contains(c.words, "--nkey"):
			b = keyed
		case slices.ContainsFunc(c.words, func(w string) bool { return strings.Contains(w, "edge-<name>") }):
			b = hub
		}
		out, err := runNats(nats, b, c.words[1:])
		if err != nil {
			t.Errorf("%s: %s: %v\n%s", c.where, strings.Join(c.words, " "), err, out)
			continue
		}
		if want := natsWants(c.words); !strings.Contains(out, want) {
			t.Errorf("%s: %s printed\n%s\nwant it to show %q", c.where, strings.Join(c.words, " "), out, want)
		}
	}
}

// installNatsCLI builds the nats CLI into a temporary directory. It needs
// the Go module proxy: offline, the test is skipped, except under CI.
func installNatsCLI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "install", natsCLI)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "GOWORK=off")
	cmd.Dir = dir // outside this module: the CLI's own requirements
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("go install %s: %v (offline?)\n%s", natsCLI, err, out)
		}
		t.Fatalf("go install %s: %v\n%s", natsCLI, err, out)
	}
	return filepath.Join(dir, "nats")
}

// exampleBridge is a bridge on its embedded broker whose store holds a
// known, an unknown and an invalid payload; or, with edge set, a hub with
// the edge of that name, reached at url without the example naming it.
type exampleBridge struct {
	url, dataDir string
	edge         string
}

// startExampleHub starts a hub and its edge "docs", which holds one event
// in its backlog: no hub stream sources it.
func startExampleHub(t *testing.T) exampleBridge {
	t.Helper()
	h := natstest.StartHub(t)
	e := natstest.StartEdge(t, "docs", h)
	h.WaitEdgeReachable(t, e.Stream, e.Name)
	msg, err := natstest.SessionMsg(e.Stream, natstest.SessionBody(0, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Keeper.Publish(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	return exampleBridge{url: h.URL(), dataDir: t.TempDir(), edge: e.Name}
}

func startExampleBridge(t *testing.T, auth string) exampleBridge {
	t.Helper()
	data := t.TempDir()
	env := []string{"STORYLANE_WEBHOOK_SECRET=change-me"}
	b := clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), env, "--listen", "127.0.0.1:0", "--data-dir", data,
		"--nats-listen", "127.0.0.1:0", "--nats-listen-auth", auth)
	natsURL, _ := b.Logs.Wait(t, "embedded nats started")["client_url"].(string)
	addr, _ := b.Logs.Wait(t, "listening")["addr"].(string)
	invalid := filepath.Join(t.TempDir(), "invalid.json")
	if err := os.WriteFile(invalid, []byte(`{"id":7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--sample", "known"}, {"--sample", "unknown"}, {"--file", invalid}} {
		cmd := exec.Command(filepath.Join(bin, "storylane-send"), append(args, "--url", "http://"+addr+"/webhooks/storylane")...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if wantErr := args[0] == "--file"; (err != nil) != wantErr {
			t.Fatalf("storylane-send %v = %v, want an error %v:\n%s", args, err, wantErr, out)
		}
	}
	return exampleBridge{url: natsURL, dataDir: data}
}

// runNats runs one example's arguments against b: its broker in place of
// the default address, its data directory in place of ./data. A
// subscription runs until stopped: it is stopped after three seconds.
func runNats(nats string, b exampleBridge, args []string) (string, error) {
	args = append([]string(nil), args...)
	for i, a := range args {
		args[i] = strings.Replace(strings.Replace(a, exampleURL, b.url, 1), "./data/", b.dataDir+"/", 1)
		args[i] = strings.ReplaceAll(args[i], "edge-<name>", "edge-"+b.edge)
	}
	if b.edge != "" {
		args = append([]string{"--server", b.url}, args...)
	}
	follows := slices.Contains(args, "sub")
	wait := 20 * time.Second
	if follows {
		wait = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, nats, args...)
	cmd.Env = append(os.Environ(), "NATS_CONTEXT=", "HOME="+b.dataDir) // no context of the machine's user
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if follows && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = nil // still following, as it should
	}
	return out.String(), err
}

// natsWants is what an example's output must show: the stream for stream
// commands, the stored headers for a message, and for a subscription
// from the start the messages on its subject, or for one of new messages
// only that it subscribed.
func natsWants(words []string) string {
	switch {
	case slices.Contains(words, "info"):
		return "STORYLANE"
	case slices.Contains(words, "get"):
		return "ce-type: storylane.session."
	case slices.Contains(words, "--new"):
		return "Subscribing"
	case slices.Contains(words, "storylane.invalid"):
		return "Storylane-Invalid-Reason"
	case slices.Contains(words, "storylane.dlq.>"):
		return "Subscribing" // no dead letters here
	}
	return "ce-type: storylane.session.unknown"
}
