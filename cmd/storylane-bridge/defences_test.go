package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/connlimit"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/internal/tlstest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, body := clitest.Get(t, url)
	return resp.StatusCode, body
}

func TestServesTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, false).Write(t, dir, "server")
	b := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0", "--nats-listen", "none", "--data-dir", t.TempDir(),
		"--tls-cert", cert, "--tls-key", key}, map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret})
	addr := b.Logs.Wait(t, "listening")["addr"].(string)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	body := example(t, "known")
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/webhooks/storylane", bytes.NewReader(body))
	req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(testSecret)))
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST over TLS: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Errorf("POST over TLS = %d (%v), want 200 over TLS 1.2 or later", res.StatusCode, res.TLS)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get("https://" + addr + "/healthz"); err == nil {
		t.Error("a TLS 1.1 client was served, want it refused")
	}
	if code, _ := get(t, "http://"+addr+"/healthz"); code == http.StatusOK {
		t.Error("plain HTTP was served on the TLS listener")
	}
}

// TestSecretFileReloads rotates the secret by editing the file, without a
// restart, and checks the metrics on the admin listener say so.
func TestSecretFileReloads(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(file, []byte("old-secret\n"), 0o600)
	b := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0", "--nats-listen", "none", "--data-dir", t.TempDir(),
		"--secret-file", file, "--secret-reload-interval", "50ms", "--admin-listen", "127.0.0.1:0", "--pprof"}, nil)
	admin := "http://" + b.Logs.Wait(t, "admin listening")["addr"].(string)
	url := "http://" + b.Logs.Wait(t, "listening")["addr"].(string)
	body := []byte(`{"id":"rotation"}`)
	if a := post(t, url, body, "new-secret"); a.status != http.StatusUnauthorized {
		t.Fatalf("POST signed with a secret not yet configured = %d, want 401", a.status)
	}
	clitest.ReplaceFile(t, file, "new-secret\nold-secret\n")
	poll.Eventually(t, "the new secret accepted", 15*time.Second, func() bool { return post(t, url, body, "new-secret").status == http.StatusOK })
	if a := post(t, url, []byte(`{"id":"still-old"}`), "old-secret"); a.status != http.StatusOK {
		t.Errorf("POST signed with the old secret during rotation = %d, want 200", a.status)
	}
	clitest.ReplaceFile(t, file, "\n") // a broken file keeps the secrets in use
	poll.Eventually(t, "the broken file noticed", 15*time.Second, func() bool {
		_, m := get(t, admin+"/metrics")
		return strings.Contains(m, `storylane_bridge_secret_reloads_total{result="error"} 1`)
	})
	if a := post(t, url, []byte(`{"id":"after-broken-file"}`), "new-secret"); a.status != http.StatusOK {
		t.Errorf("POST after an empty secret file = %d, want 200 with the secrets kept", a.status)
	}
	_, m := get(t, admin+"/metrics")
	for _, want := range []string{`storylane_bridge_secret_reloads_total{result="ok"} 1`, `storylane_bridge_webhook_secrets 2`,
		`storylane_bridge_signature_key_matches_total{key="0"}`, `storylane_bridge_signature_key_matches_total{key="1"} 1`,
		`storylane_bridge_webhooks_total{outcome="unauthorized"}`, "storylane_bridge_publish_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, "storylane_bridge_edge_") {
		t.Error("/metrics of a bridge not in edge mode shows edge metrics")
	}
	if strings.Contains(m, "new-secret") || strings.Contains(m, "old-secret") {
		t.Error("/metrics shows a secret")
	}
	if code, _ := get(t, admin+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("GET /debug/pprof/goroutine on the admin listener with --pprof = %d, want 200", code)
	}
	if code, _ := get(t, url+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the public port = %d, want 404: metrics stay off the public port", code)
	}
}

// TestProcessReloadsSecretsOnSIGHUP: a rotation applied with a signal.
func TestProcessReloadsSecretsOnSIGHUP(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(file, []byte("before-hup\n"), 0o600)
	p := clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET_FILE=" + file, "BRIDGE_SECRET_RELOAD_INTERVAL=1h"},
		"--listen", "127.0.0.1:0", "--nats-listen", "none", "--data-dir", t.TempDir())
	url := "http://" + p.Logs.Wait(t, "listening")["addr"].(string)
	clitest.ReplaceFile(t, file, "after-hup\n")
	body := []byte(`{"id":"hup"}`)
	if a := post(t, url, body, "after-hup"); a.status != http.StatusUnauthorized {
		t.Fatalf("POST with the new secret before SIGHUP = %d, want 401", a.status)
	}
	p.Signal(t, syscall.SIGHUP)
	p.Logs.Wait(t, "webhook secrets reloaded")
	if a := post(t, url, body, "after-hup"); a.status != http.StatusOK {
		t.Errorf("POST with the new secret after SIGHUP = %d, want 200", a.status)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Exit(t); code != 0 {
		t.Errorf("exit after SIGTERM = %d, want 0", code)
	}
}

// TestProcessRefusesSecretWithBOM: a secret saved with a byte-order mark
// (or any invisible character) stops the start with status 2 and a message
// naming the line, instead of a bridge that answers every webhook 401.
func TestProcessRefusesSecretWithBOM(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(file, []byte("\uFEFFsaved-by-notepad\r\n"), 0o600)
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"file", []string{"STORYLANE_WEBHOOK_SECRET_FILE=" + file}, file + ", line 1: invisible character in a webhook secret: U+FEFF"},
		{"variable", []string{"STORYLANE_WEBHOOK_SECRET=first,second\u200b"}, "$STORYLANE_WEBHOOK_SECRET, item 2: invisible character in a webhook secret: U+200B at its end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), tt.env, "--listen", "127.0.0.1:0", "--nats-listen", "none", "--data-dir", t.TempDir())
			if code := p.Exit(t); code != 2 {
				t.Errorf("storylane-bridge with an invisible character in its secret exited %d, want 2", code)
			}
			if out := p.Logs.String(); !strings.Contains(out, tt.want) || strings.Contains(out, "notepad") || strings.Contains(out, "second") {
				t.Errorf("storylane-bridge with an invisible character in its secret said %q, want %q and no secret", out, tt.want)
			}
		})
	}
}

// TestSecretFileWithBOMIsNotReloaded: the same file at run time is a failed
// reload: counted, logged with the line, and the secrets in use stay.
func TestSecretFileWithBOMIsNotReloaded(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(file, []byte("in-use\n"), 0o600)
	b := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0", "--nats-listen", "none", "--data-dir", t.TempDir(),
		"--secret-file", file, "--secret-reload-interval", "50ms", "--admin-listen", "127.0.0.1:0"}, nil)
	admin := "http://" + b.Logs.Wait(t, "admin listening")["addr"].(string)
	url := "http://" + b.Logs.Wait(t, "listening")["addr"].(string)
	clitest.ReplaceFile(t, file, "\uFEFFrotated\r\nin-use\r\n")
	line := b.Logs.Wait(t, "webhook secrets not reloaded; the previous ones stay in use")
	if msg, _ := line["error"].(string); !strings.Contains(msg, file+", line 1: invisible character in a webhook secret: U+FEFF") || strings.Contains(msg, "rotated") {
		t.Errorf("failed reload logged %q, want the file, line 1 and U+FEFF, and no secret", msg)
	}
	if _, m := get(t, admin+"/metrics"); !strings.Contains(m, `storylane_bridge_secret_reloads_total{result="error"} 1`) ||
		!strings.Contains(m, `storylane_bridge_secret_reloads_total{result="ok"} 0`) {
		t.Errorf("/metrics after a file with a BOM lacks reloads error 1, ok 0")
	}
	if code, _ := get(t, admin+"/debug/pprof/goroutine?debug=1"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/goroutine on the admin listener without --pprof = %d, want 404", code)
	}
	if a := post(t, url, []byte(`{"id":"kept"}`), "in-use"); a.status != http.StatusOK {
		t.Errorf("POST with the secret in use after a failed reload = %d, want 200", a.status)
	}
	if a := post(t, url, []byte(`{"id":"not-yet"}`), "rotated"); a.status != http.StatusUnauthorized {
		t.Errorf("POST with the secret of the refused file = %d, want 401", a.status)
	}
	clitest.ReplaceFile(t, file, "rotated\r\nin-use\r\n")
	poll.Eventually(t, "the fixed file reloaded", 15*time.Second, func() bool { return post(t, url, []byte(`{"id":"fixed"}`), "rotated").status == http.StatusOK })
}

// TestHeadersTooLargeAnswerJSON: headers over --max-header-bytes get a 431
// in JSON, like every other answer, though net/http makes it.
func TestHeadersTooLargeAnswerJSON(t *testing.T) {
	t.Parallel()
	b := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0", "--nats-listen", "none", "--data-dir", t.TempDir(),
		"--max-header-bytes", "1024"}, map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret})
	c, err := net.Dial("tcp", b.Logs.Wait(t, "listening")["addr"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /webhooks/storylane HTTP/1.1\r\nHost: bridge\r\nX-Bomb: "+strings.Repeat("b", 8<<10)+"\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var answer map[string]string
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge || res.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &answer) != nil || answer["error"] == "" {
		t.Errorf("headers over --max-header-bytes = %d %q %q, want 431 in JSON", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
}

// TestRunReturnsWhenItCannotListen: with a secret file being watched, an
// error after start-up still ends run at once.
func TestRunReturnsWhenItCannotListen(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	file := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(file, []byte("s\n"), 0o600)
	r := clitest.Start(t, run, []string{"--listen", taken.Addr().String(), "--nats-listen", "none", "--data-dir", t.TempDir(), "--secret-file", file}, nil)
	done := make(chan error, 1)
	go func() { done <- r.Wait(t) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "listen") {
			t.Errorf("run on a taken port = %v, want the listen error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return 10s after failing to listen")
	}
}

// TestConnectionsPerClientMakeRoom: past a client's share of connections,
// the one that has waited longest for its headers is closed to make room,
// and the new one is served.
func TestConnectionsPerClientMakeRoom(t *testing.T) {
	t.Parallel()
	b := clitest.Start(t, run, []string{"--listen", "127.0.0.1:0", "--nats-listen", "none", "--data-dir", t.TempDir(),
		"--max-connections-per-client", "3"}, map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret})
	addr := b.Logs.Wait(t, "listening")["addr"].(string)
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	time.Sleep(connlimit.DefaultNewGrace + 100*time.Millisecond) // past their grace
	if a := post(t, "http://"+addr, []byte(`{"id":"room"}`), testSecret); a.status != http.StatusOK {
		t.Fatalf("POST past the client's share of connections = %d, want 200", a.status)
	}
	held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("the oldest silent connection read %v, want it closed to make room", err)
	}
	if line := b.Logs.Wait(t, "connection closed to make room"); line["bound"] != "per_client" || line["state"] != "new" {
		t.Errorf("eviction logged as %v, want bound per_client, state new", line)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestAddressInUseExits1: a listener whose address another process holds
// ends the start with status 1 whichever listener it is: the machine's
// state, not a mistake in the configuration, and a restart may find the
// port free. (Before, --admin-listen exited 2 and the others 1.)
func TestAddressInUseExits1(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, flag := range []string{"--listen", "--admin-listen", "--nats-listen"} {
		t.Run(flag, func(t *testing.T) {
			args := map[string]string{"--listen": "127.0.0.1:0", "--nats-listen": "none", "--admin-listen": "127.0.0.1:0"}
			args[flag] = addr
			var list []string
			for k, v := range args {
				list = append(list, k, v)
			}
			r := clitest.Start(t, run, append(list, "--data-dir", t.TempDir()), map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret})
			err := r.Wait(t)
			if code := cli.Exit(io.Discard, "storylane-bridge", err); code != 1 || !strings.Contains(fmt.Sprint(err), "address already in use") {
				t.Errorf("storylane-bridge %s on a taken port exits %d (%v), want 1 and the address in use", flag, code, err)
			}
		})
	}
}
