package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
)

// TestRecreatesADeletedStream: someone with the right to (an operator on a
// cluster; no one but the bridge on the embedded broker) deletes the stream
// under a running bridge; the next webhook is stored all the same, in the
// stream the bridge re-created, and the bridge stays healthy and ready.
func TestRecreatesADeletedStream(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	b := startBridge(t, map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret, "NATS_URL": srv.URL()})
	if a := post(t, b.url, example(t, "known"), testSecret); a.status != http.StatusOK {
		t.Fatalf("POST known = %d %v, want 200", a.status, a.body)
	}
	js := clientJetStream(t, srv.URL(), "", "")
	deleteStream(t, js)
	if a := post(t, b.url, example(t, "unknown"), testSecret); a.status != http.StatusOK || a.body["seq"] != float64(1) {
		t.Errorf("POST unknown after the stream was deleted = %d %v, want 200, the first event of a new stream", a.status, a.body)
	}
	if msgs := natstest.Messages(t, js, "STORYLANE"); len(msgs) != 1 || msgs[0].Subject != "storylane.session.unknown" {
		t.Errorf("the re-created stream holds %d messages, want the unknown session", len(msgs))
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, b.url+path); code != http.StatusOK {
			t.Errorf("GET %s after the stream was re-created = %d %s, want 200", path, code, body)
		}
	}
	b.Logs.Wait(t, "stream was missing: re-created it")
}

// TestUnhealthyWhenTheStreamCannotBeRecreated: a bridge whose user may not
// create streams cannot heal a deleted one; /healthz, on the public and the
// admin listener, turns 503 so that an orchestrator restarts it.
func TestUnhealthyWhenTheStreamCannotBeRecreated(t *testing.T) {
	t.Parallel()
	url, js := restrictedServer(t)
	natstest.DefaultStream(t, js)
	b := startBridge(t, restrictedBridge(url), "--publish-timeout", "1s", "--admin-listen", "127.0.0.1:0")
	adminURL := "http://" + b.Logs.Wait(t, "admin listening")["addr"].(string)
	if a := post(t, b.url, example(t, "known"), testSecret); a.status != http.StatusOK {
		t.Fatalf("POST known = %d %v, want 200", a.status, a.body)
	}
	deleteStream(t, js)
	if a := post(t, b.url, example(t, "unknown"), testSecret); a.status != http.StatusServiceUnavailable {
		t.Errorf("POST with the stream deleted = %d %v, want 503", a.status, a.body)
	}
	for _, url := range []string{b.url + "/healthz", adminURL + "/healthz"} {
		code, body := get(t, url)
		for deadline := time.Now().Add(15 * time.Second); code == http.StatusOK && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			code, body = get(t, url)
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "Permissions Violation") {
			t.Errorf("GET %s with the stream deleted and no right to create it = %d %s, want 503 saying why", url, code, body)
		}
	}
}

// TestStartRefusedIsAUsageError: a bridge whose user may not create its
// missing stream does not wait for it as for a broker still starting: it
// exits 2 saying why.
func TestStartRefusedIsAUsageError(t *testing.T) {
	t.Parallel()
	url, _ := restrictedServer(t)
	r := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0"}, restrictedBridge(url))
	err := r.Wait(t)
	if !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), "$JS.API.STREAM.CREATE.STORYLANE") {
		t.Errorf("bridge that may not create its stream = %v, want a usage error naming the refused API", err)
	}
}

// restrictedServer runs a nats-server with JetStream and two users: admin,
// who may do anything, and bridge, who may publish events and look the
// stream up but neither create nor update it. It returns its URL and a
// JetStream client of admin's.
func restrictedServer(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		JetStream: true, StoreDir: t.TempDir(), Users: []*server.User{
			{Username: "admin", Password: "admin"},
			{Username: "bridge", Password: "bridge", Permissions: &server.Permissions{Publish: &server.SubjectPermission{
				Allow: []string{"storylane.>", "$JS.API.STREAM.INFO.STORYLANE"}}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return ns.ClientURL(), clientJetStream(t, ns.ClientURL(), "admin", "admin")
}

func restrictedBridge(url string) map[string]string {
	return map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret, "NATS_URL": url, "NATS_USER": "bridge", "NATS_PASSWORD": "bridge"}
}

func clientJetStream(t *testing.T, url, user, password string) jetstream.JetStream {
	t.Helper()
	nc, err := broker.Connect(broker.ConnConfig{URL: url, Name: "test-admin", User: user, Password: password}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func deleteStream(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "STORYLANE"); err != nil {
		t.Fatalf("delete the stream: %v", err)
	}
}
