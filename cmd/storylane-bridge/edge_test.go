package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func TestEdgeModeConfiguration(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil || broker.ValidateEdgeName(host) != nil {
		t.Skipf("host name %q cannot be an edge name (%v)", host, err)
	}
	tests := []struct {
		vars           map[string]string
		wantName       string
		wantSyncAlways bool
	}{
		{map[string]string{"BRIDGE_LEAF_REMOTE": "nats-leaf://hub:7422"}, host, true},
		{map[string]string{"BRIDGE_LEAF_REMOTE": "nats-leaf://hub:7422", "BRIDGE_EDGE_NAME": "e1", "BRIDGE_SYNC_INTERVAL": "1s"}, "e1", false},
	}
	for _, tt := range tests {
		c, err := parseConfig(nil, clitest.Env(tt.vars), io.Discard)
		if err != nil {
			t.Fatalf("parseConfig(%v) = %v", tt.vars, err)
		}
		emb, err := c.embedded()
		if err != nil {
			t.Fatal(err)
		}
		if emb.Edge == nil || emb.Edge.Name != tt.wantName || len(emb.Edge.Remotes) != 1 || emb.Edge.SubjectPrefix != "storylane" || emb.SyncAlways != tt.wantSyncAlways {
			t.Errorf("embedded() with %v = %+v, want edge %s of nats-leaf://hub:7422, sync always %t", tt.vars, emb, tt.wantName, tt.wantSyncAlways)
		}
		want := "edge-sourcing." + tt.wantName + ".STORYLANE"
		if c.stream.Edge == nil || c.stream.Edge.DeliverSubject != want || c.stream.MaxBytes != 1<<30 || c.stream.MaxAge != 0 {
			t.Errorf("stream with %v = %+v, want an edge stream delivering to %s within 1 GiB", tt.vars, c.stream, want)
		}
	}
	c, err := parseConfig(nil, clitest.Env(nil), io.Discard)
	if err != nil || c.stream.Edge != nil || c.stream.MaxBytes != 0 {
		t.Errorf("parseConfig() without --leaf-remote = %+v, %v, want no edge", c.stream, err)
	}
}

func TestEdgeModeRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	edge := []string{"--leaf-remote", "nats-leaf://127.0.0.1:7422", "--edge-name", "e1"}
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"with an external broker", append(edge, "--nats-url", "nats://127.0.0.1:4222"), "cannot go with --nats-url"},
		{"leaf flags without a remote", []string{"--leaf-user", "u"}, "need --leaf-remote"},
		{"edge name with a dot", []string{"--leaf-remote", "nats-leaf://127.0.0.1:7422", "--edge-name", "web.example.com"}, "--edge-name"},
		{"remote without a port", []string{"--leaf-remote", "nats-leaf://hub", "--edge-name", "e1"}, "--leaf-remote"},
		{"a max age", append(edge, "--stream-max-age", "48h"), "--stream-max-age"},
		{"a stream byte limit", append(edge, "--stream-max-bytes", "1000000"), "--stream-max-bytes"},
		{"replicas", append(edge, "--stream-replicas", "3"), "--stream-replicas"},
		{"a budget below one webhook", append(edge, "--edge-max-bytes", "1000"), "--edge-max-bytes"},
		{"half a client certificate", append(edge, "--leaf-tls-cert", "c.pem"), "--leaf-tls-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append(tt.args, "--data-dir", t.TempDir()), clitest.Env(map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret}), io.Discard)
			if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("run(%s) = %v, want a usage error naming %s", tt.name, err, tt.says)
			}
		})
	}
}

// TestEdgeBridgeForwardsWebhooksToTheHub: a bridge in edge mode answers
// 200 and is ready whether or not its hub is up, and every webhook it
// acknowledged reaches the hub's stream once.
func TestEdgeBridgeForwardsWebhooksToTheHub(t *testing.T) {
	t.Parallel()
	hub := natstest.StartHub(t)
	stream := broker.StreamConfig{Name: broker.DefaultStream, Subjects: broker.Subjects{Prefix: broker.DefaultSubjectPrefix}}
	hub.CreateHubStream(t, stream, "e1")
	b := startBridge(t, nil, "--leaf-remote", hub.LeafURL(), "--edge-name", "e1", "--data-dir", t.TempDir(), "--admin-listen", "127.0.0.1:0")
	admin := "http://" + b.Logs.Wait(t, "admin listening")["addr"].(string)
	hubHolds := func(n int) bool {
		s, err := hub.JetStream(t).Stream(context.Background(), "STORYLANE")
		return err == nil && s.CachedInfo().State.Msgs == uint64(n)
	}
	if a := post(t, b.url, example(t, "known"), testSecret); a.status != http.StatusOK {
		t.Fatalf("POST to the edge = %d %v, want 200", a.status, a.body)
	}
	poll.Eventually(t, "the hub holds the webhook", 15*time.Second, func() bool { return hubHolds(1) })
	// The edge deletes its copy once the hub's flow control acknowledges
	// it, a little after the hub stored it.
	poll.Eventually(t, "/metrics shows the webhook forwarded", 10*time.Second, func() bool {
		_, m := get(t, admin+"/metrics")
		return strings.Contains(m, "storylane_bridge_edge_backlog_messages 0\n") && strings.Contains(m, "storylane_bridge_edge_leaf_connected 1\n")
	})
	hub.Stop()
	if a := post(t, b.url, example(t, "unknown"), testSecret); a.status != http.StatusOK {
		t.Fatalf("POST to the edge with the hub down = %d %v, want 200", a.status, a.body)
	}
	if code, body := get(t, b.url+"/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz with the hub down = %d %s, want 200: an edge's readiness is its own", code, body)
	}
	var m string
	if !poll.Within(10*time.Second, func() bool {
		_, m = get(t, admin+"/metrics")
		return strings.Contains(m, "storylane_bridge_edge_backlog_messages 1\n") && strings.Contains(m, "storylane_bridge_edge_leaf_connected 0\n") &&
			!strings.Contains(m, "storylane_bridge_edge_oldest_unforwarded_seconds 0\n")
	}) {
		t.Fatalf("/metrics with one webhook stored while the hub is down = %s, want backlog 1, an age, the link down", edgeLines(m))
	}
	hub.Restart()
	poll.Eventually(t, "the hub holds both webhooks", 20*time.Second, func() bool { return hubHolds(2) })
	poll.Eventually(t, "/metrics shows no backlog and the link up", 10*time.Second, func() bool {
		_, m := get(t, admin+"/metrics")
		return strings.Contains(m, "storylane_bridge_edge_backlog_messages 0\n") && strings.Contains(m, "storylane_bridge_edge_leaf_connected 1\n") &&
			strings.Contains(m, "storylane_bridge_edge_oldest_unforwarded_seconds 0\n") &&
			strings.Contains(m, fmt.Sprintf("storylane_bridge_edge_backlog_budget_bytes %g\n", float64(defaultEdgeMaxBytes)))
	})
}

// edgeLines are the edge metrics' lines of a scrape.
func edgeLines(metrics string) string {
	var lines []string
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "storylane_bridge_edge_") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestEdgeModeRefusesASingleMachineStream: a data dir of a bridge run
// without edge mode holds a stream that keeps every event; edge mode on it
// is refused with what to do (exit 2), its events left as they are.
func TestEdgeModeRefusesASingleMachineStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := startBridge(t, nil, "--data-dir", dir)
	if a := post(t, b.url, example(t, "known"), testSecret); a.status != http.StatusOK {
		t.Fatalf("POST = %d %v, want 200", a.status, a.body)
	}
	if err := b.Stop(t); err != nil {
		t.Fatal(err)
	}
	// No hub: the check is the edge's own.
	err := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--nats-listen", "none", "--data-dir", dir,
		"--leaf-remote", "nats-leaf://127.0.0.1:1", "--edge-name", "e1"}, clitest.Env(map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret}), io.Discard)
	if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "new --data-dir") || !strings.Contains(err.Error(), "1 events") {
		t.Errorf("edge mode on a single-machine bridge's data dir = %v, want a usage error saying to start on a new --data-dir", err)
	}
}
