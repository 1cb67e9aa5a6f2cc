package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

const testSecret = "whsec_test_secret"

// bridge is run() going in this process.
type bridge struct {
	*clitest.Running
	url     string // http://host:port
	natsURL string // the embedded server's client URL, when embedded
}

func startBridge(t *testing.T, vars map[string]string, args ...string) *bridge {
	t.Helper()
	if vars == nil {
		vars = map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret}
	}
	args = append([]string{"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, args...)
	b := &bridge{Running: clitest.Start(t, run, args, vars)}
	b.url = "http://" + b.Logs.Wait(t, "listening")["addr"].(string)
	if vars["NATS_URL"] == "" && !strings.Contains(strings.Join(args, " "), "--nats-url") {
		b.natsURL = b.Logs.Wait(t, "embedded nats started")["client_url"].(string)
	}
	return b
}

type answer struct {
	status int
	body   map[string]any
}

func post(t *testing.T, url string, body []byte, secret string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(secret)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("POST answer %d is not JSON: %v", res.StatusCode, err)
	}
	return answer{res.StatusCode, m}
}

func example(t *testing.T, name string) []byte {
	t.Helper()
	b, err := schemas.Example(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// streamMessages reads the stream through a client connection to url.
func streamMessages(t *testing.T, url, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	nc, err := broker.Connect(broker.ConnConfig{URL: url, Name: "test-reader"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return natstest.Messages(t, js, stream)
}

func TestRunRefusesToStartWithoutSecret(t *testing.T) {
	t.Parallel()
	secretFile := t.TempDir() + "/secrets"
	tests := []struct {
		name string
		vars map[string]string
		args []string
		says []string
	}{
		{"no secret", nil, nil, []string{"$STORYLANE_WEBHOOK_SECRET to", "$STORYLANE_WEBHOOK_SECRET_FILE to"}},
		{"blank secret", map[string]string{"STORYLANE_WEBHOOK_SECRET": " , "}, nil, []string{"$STORYLANE_WEBHOOK_SECRET to"}},
		{"missing file", map[string]string{"STORYLANE_WEBHOOK_SECRET_FILE": secretFile}, nil, []string{"$STORYLANE_WEBHOOK_SECRET_FILE", "no such file"}},
		{"both", map[string]string{"STORYLANE_WEBHOOK_SECRET": "a"}, []string{"--secret-file", secretFile}, []string{"either $STORYLANE_WEBHOOK_SECRET or"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append(tt.args, "--data-dir", t.TempDir()), clitest.Env(tt.vars), io.Discard)
			var stderr bytes.Buffer
			if code := cli.Exit(&stderr, "storylane-bridge", err); code != 2 {
				t.Errorf("run(%s) exit = %d (%v), want 2", tt.name, code, err)
			}
			for _, want := range tt.says {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("run(%s) says %q, want it to say %q", tt.name, stderr.String(), want)
				}
			}
		})
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	base := map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret}
	tests := []struct {
		name string
		vars map[string]string
		args []string
	}{
		{"unknown flag", base, []string{"--bogus"}},
		{"positional argument", base, []string{"extra"}},
		{"zero max body", base, []string{"--max-body", "0"}},
		{"max body from env not a number", map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret, "BRIDGE_MAX_BODY": "lots"}, nil},
		{"empty source", base, []string{"--source", ""}},
		{"wildcard prefix", base, []string{"--subject-prefix", "a.*"}},
		{"stream name with dot", base, []string{"--stream", "A.B"}},
		{"zero replicas", base, []string{"--stream-replicas", "0"}},
		{"window longer than max age", base, []string{"--stream-max-age", "1m", "--stream-duplicate-window", "1h"}},
		{"log level", base, []string{"--log-level", "loud"}},
		{"log format", base, []string{"--log-format", "xml"}},
		{"max body over NATS's limit", base, []string{"--max-body", "67108864"}},
		{"sync interval", base, []string{"--sync-interval", "sometimes"}},
		{"negative sync interval", base, []string{"--sync-interval", "-1s"}},
		{"TLS files that are not there", base, []string{"--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"}},
		{"listen address without a port", base, []string{"--listen", "bogus"}},
		{"empty listen address", base, []string{"--listen", ""}},
		{"admin listen address without a port", base, []string{"--admin-listen", "bogus"}},
		{"nats listen port out of range", base, []string{"--nats-listen", "127.0.0.1:99999"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append(tt.args, "--data-dir", t.TempDir()), clitest.Env(tt.vars), io.Discard)
			if !errors.Is(err, cli.ErrUsage) {
				t.Errorf("run(%s) = %v, want an error wrapping ErrUsage", tt.name, err)
			}
		})
	}
}

func TestHelpListsEveryFlagAndVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, clitest.Env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) || cli.Exit(io.Discard, "x", err) != 0 {
		t.Fatalf("run(--help) = %v, want flag.ErrHelp and exit 0", err)
	}
	for _, want := range []string{
		"--listen", "BRIDGE_LISTEN", "--max-body", "BRIDGE_MAX_BODY", "--source", "BRIDGE_SOURCE",
		"--publish-timeout", "BRIDGE_PUBLISH_TIMEOUT", "--shutdown-timeout", "BRIDGE_SHUTDOWN_TIMEOUT",
		"--secret-file", "STORYLANE_WEBHOOK_SECRET_FILE", "$STORYLANE_WEBHOOK_SECRET\n",
		"--nats-url", "NATS_URL", "--nats-creds", "NATS_CREDS", "--nats-nkey", "NATS_NKEY",
		"--nats-user", "NATS_USER", "--nats-password", "NATS_PASSWORD", "--nats-tls-ca", "NATS_TLS_CA",
		"--nats-tls-cert", "NATS_TLS_CERT", "--nats-tls-key", "NATS_TLS_KEY",
		"--nats-listen", "BRIDGE_NATS_LISTEN", "--data-dir", "BRIDGE_DATA_DIR",
		"--stream", "STREAM_NAME", "--subject-prefix", "STREAM_SUBJECT_PREFIX",
		"--stream-max-age", "STREAM_MAX_AGE", "--stream-duplicate-window", "STREAM_DUPLICATE_WINDOW",
		"--stream-replicas", "STREAM_REPLICAS", "--log-format", "LOG_FORMAT", "--log-level", "LOG_LEVEL",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"STORYLANE_WEBHOOK_SECRET": testSecret,
		"BRIDGE_SOURCE":            "urn:from:env",
		"STREAM_SUBJECT_PREFIX":    "acme.storylane",
		"BRIDGE_DATA_DIR":          t.TempDir(),
	}
	b := startBridge(t, vars, "--source", "urn:from:flag")
	if a := post(t, b.url, example(t, "known"), testSecret); a.status != http.StatusOK {
		t.Fatalf("POST known = %d %v, want 200", a.status, a.body)
	}
	msgs := streamMessages(t, b.natsURL, "STORYLANE")
	if len(msgs) != 1 {
		t.Fatalf("stored %d messages, want 1", len(msgs))
	}
	if msgs[0].Subject != "acme.storylane.session.known" || msgs[0].Header.Get("ce-source") != "urn:from:flag" {
		t.Errorf("stored on %q from %q, want acme.storylane.session.known from urn:from:flag",
			msgs[0].Subject, msgs[0].Header.Get("ce-source"))
	}
}

func TestSecretFileRotation(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/secrets"
	if err := os.WriteFile(file, []byte("whsec_test_secret\r\n\nrotated-secret-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBridge(t, map[string]string{"STORYLANE_WEBHOOK_SECRET_FILE": file}, "--data-dir", t.TempDir())
	for i, secret := range []string{"whsec_test_secret", "rotated-secret-2"} {
		body := []byte(fmt.Sprintf(`{"id":"rotation-%d"}`, i))
		if a := post(t, b.url, body, secret); a.status != http.StatusOK {
			t.Errorf("POST signed with secret %d = %d %v, want 200", i+1, a.status, a.body)
		}
	}
	body := []byte(`{"id":"forged"}`)
	if a := post(t, b.url, body, "some-other-secret"); a.status != http.StatusUnauthorized {
		t.Errorf("POST signed with an unknown secret = %d, want 401", a.status)
	}
}

func TestRestartKeepsEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := startBridge(t, nil, "--data-dir", dir)
	known := example(t, "known")
	if a := post(t, b.url, known, testSecret); a.status != http.StatusOK {
		t.Fatalf("POST known = %d %v, want 200", a.status, a.body)
	}
	if err := b.Stop(t); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}

	b = startBridge(t, nil, "--data-dir", dir)
	if a := post(t, b.url, example(t, "unknown"), testSecret); a.status != http.StatusOK || a.body["seq"] != float64(2) {
		t.Errorf("POST unknown after restart = %d %v, want 200 with seq 2", a.status, a.body)
	}
	// The duplicate window outlives the restart.
	if a := post(t, b.url, known, testSecret); a.body["duplicate"] != true || a.body["seq"] != float64(1) {
		t.Errorf("POST known again after restart = %v, want a duplicate of seq 1", a.body)
	}
	msgs := streamMessages(t, b.natsURL, "STORYLANE")
	if len(msgs) != 2 || !bytes.Equal(msgs[0].Data, known) {
		t.Errorf("after restart the stream holds %d messages, want the earlier event and the new one", len(msgs))
	}
}

func TestExternalBrokerStartedAfterTheBridge(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	srv.Stop()
	vars := map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret, "NATS_URL": srv.URL()}
	r := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0"}, vars)
	defer func() {
		if err := r.Stop(t); err != nil {
			t.Errorf("run = %v, want nil", err)
		}
	}()
	r.Logs.Wait(t, "waiting for the stream")
	srv.Restart()
	url := "http://" + r.Logs.Wait(t, "listening")["addr"].(string)
	if a := post(t, url, example(t, "unknown"), testSecret); a.status != http.StatusOK {
		t.Fatalf("POST via external broker = %d %v, want 200", a.status, a.body)
	}
	if msgs := natstest.Messages(t, srv.JetStream(t), "STORYLANE"); len(msgs) != 1 {
		t.Errorf("external stream holds %d messages, want 1", len(msgs))
	}
}

// TestNoListenerAndASyncInterval: the defaults (a listener, an fsync per
// write) are what every other test runs; this one runs the others.
func TestNoListenerAndASyncInterval(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret, "BRIDGE_NATS_LISTEN": "none", "BRIDGE_SYNC_INTERVAL": "30s"}
	r := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, vars)
	defer func() {
		if err := r.Stop(t); err != nil {
			t.Errorf("run = %v, want nil", err)
		}
	}()
	if got := r.Logs.Wait(t, "embedded nats started")["client_url"]; got != "none" {
		t.Errorf("embedded nats client_url = %v, want none: BRIDGE_NATS_LISTEN=none allows no other process in", got)
	}
	url := "http://" + r.Logs.Wait(t, "listening")["addr"].(string)
	if a := post(t, url, example(t, "unknown"), testSecret); a.status != http.StatusOK {
		t.Errorf("POST with no listener and a sync interval = %d %v, want 200", a.status, a.body)
	}
}

// TestBodyLimitFollowsTheBroker runs the bridge against a broker whose
// max_payload is smaller than --max-body: a body the broker could not take
// is refused with 413 before anything is read, a small one is stored.
func TestBodyLimitFollowsTheBroker(t *testing.T) {
	t.Parallel()
	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir(), MaxPayload: 100 << 10}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	b := startBridge(t, map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret, "NATS_URL": ns.ClientURL()})
	b.Logs.Wait(t, "the broker's max_payload is below --max-body plus room for headers: webhooks over max_body get 413; raise max_payload on the server")
	big := []byte(`{"id":"big","pad":"` + strings.Repeat("x", 40<<10) + `"}`)
	if a := post(t, b.url, big, testSecret); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST 40 KiB to a bridge on a 100 KiB broker = %d, want 413", a.status)
	}
	if a := post(t, b.url, example(t, "known"), testSecret); a.status != http.StatusOK {
		t.Errorf("POST known = %d %v, want 200", a.status, a.body)
	}
}

// TestLogsHideNATSCredentials runs the bridge against a URL carrying a
// password and checks that no log line shows it.
func TestLogsHideNATSCredentials(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	url := strings.Replace(srv.URL(), "nats://", "nats://alice:s3cretpw@", 1)
	b := startBridge(t, map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret, "NATS_URL": url})
	post(t, b.url, example(t, "known"), testSecret)
	b.Stop(t)
	if strings.Contains(b.Logs.String(), "s3cretpw") {
		t.Errorf("the log shows the NATS password:\n%s", b.Logs)
	}
	if strings.Contains(b.Logs.String(), testSecret) {
		t.Errorf("the log shows the webhook secret")
	}
}

// TestReplicasBeyondTheServerIsAUsageError: three replicas on a server that
// is not clustered can never work; the bridge exits 2 instead of waiting.
func TestReplicasBeyondTheServerIsAUsageError(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	r := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0", "--stream-replicas", "3"},
		map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret, "NATS_URL": srv.URL()})
	if err := r.Wait(t); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("bridge with 3 replicas on one server = %v, want a usage error", err)
	}
}

// TestHealthyWhileWaitingForTheBroker: while the bridge waits for its
// broker, its listener is up: /healthz 200, so an orchestrator does not kill
// it, and /readyz and webhooks 503, so none is sent to it.
func TestHealthyWhileWaitingForTheBroker(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	srv.Stop()
	r := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0"}, map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret, "NATS_URL": srv.URL()})
	url := "http://" + r.Logs.Wait(t, "starting")["addr"].(string)
	r.Logs.Wait(t, "waiting for the stream")
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		if code, _ := get(t, url+path); code != want {
			t.Errorf("GET %s while waiting for the broker = %d, want %d", path, code, want)
		}
	}
	if a := post(t, url, example(t, "known"), testSecret); a.status != http.StatusServiceUnavailable {
		t.Errorf("POST while waiting for the broker = %d, want 503", a.status)
	}
	srv.Restart()
	r.Logs.Wait(t, "listening")
	if a := post(t, url, example(t, "known"), testSecret); a.status != http.StatusOK {
		t.Errorf("POST once the broker is there = %d %v, want 200", a.status, a.body)
	}
}

func TestHelpAndReadmeAgree(t *testing.T) {
	t.Parallel()
	clitest.CheckHelpInDocs(t, run)
}

// TestSyncAlwaysByDefault: a 2xx from the embedded broker survives a power
// cut unless the operator chose otherwise.
func TestSyncAlwaysByDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vars       map[string]string
		wantAlways bool
		wantEvery  time.Duration
	}{
		{nil, true, 0},
		{map[string]string{"BRIDGE_SYNC_INTERVAL": "2m"}, false, 2 * time.Minute},
	}
	for _, tt := range tests {
		c, err := parseConfig(nil, clitest.Env(tt.vars), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		every, always, err := c.sync()
		if err != nil || always != tt.wantAlways || every != tt.wantEvery {
			t.Errorf("sync() with %v = %v, %v, %v, want %v, %v", tt.vars, every, always, err, tt.wantEvery, tt.wantAlways)
		}
	}
}
