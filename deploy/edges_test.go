package deploy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// buildBinaries builds storylane-bridge, storylane-hub and the nats-server
// of the version go.mod names into a temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range []string{"github.com/storylane-bridge/storylane-bridge/cmd/storylane-bridge",
		"github.com/storylane-bridge/storylane-bridge/cmd/storylane-hub", "github.com/nats-io/nats-server/v2"} {
		if out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir
}

func randomPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// edgeRig is a hub of three nats-server processes from deploy/nats/hub.conf
// and storylane-bridge processes in edge mode linked to it, each as its
// leaf user.
type edgeRig struct {
	bin       string
	passwords map[string]string // user → password
	hubs      []*clitest.Process
	clientURL []string
	leafURL   []string
}

func startHub(t *testing.T, bin string) *edgeRig {
	t.Helper()
	conf, _ := filepath.Abs("nats/hub.conf")
	r := &edgeRig{bin: bin, passwords: map[string]string{}}
	var env []string
	for _, user := range []string{"route", "bridge", "lead-sync", "session-archive", "session-stats", "admin", "sys", "storylane-hub", "edge-a", "edge-b"} {
		r.passwords[user] = randomPassword()
		env = append(env, "NATS_"+strings.ToUpper(strings.ReplaceAll(user, "-", "_"))+"_PASSWORD="+r.passwords[user])
	}
	type ports struct{ client, route, monitor, leaf int }
	var nodes []ports
	var routes []string
	for range 3 {
		p := ports{freePort(t), freePort(t), freePort(t), freePort(t)}
		nodes = append(nodes, p)
		routes = append(routes, fmt.Sprintf("nats://route:%s@127.0.0.1:%d", r.passwords["route"], p.route))
	}
	env = append(env, "NATS_HOST=127.0.0.1", "NATS_ROUTES=["+strings.Join(routes, ", ")+"]")
	for i, p := range nodes {
		r.hubs = append(r.hubs, clitest.StartProcess(t, filepath.Join(bin, "nats-server"), append(env,
			fmt.Sprintf("NATS_SERVER_NAME=hub-%d", i+1), fmt.Sprintf("NATS_CLIENT_PORT=%d", p.client),
			fmt.Sprintf("NATS_CLUSTER_PORT=%d", p.route), fmt.Sprintf("NATS_MONITOR_PORT=%d", p.monitor),
			fmt.Sprintf("NATS_LEAF_PORT=%d", p.leaf), "NATS_STORE_DIR="+t.TempDir()), "-c", conf))
		r.clientURL = append(r.clientURL, fmt.Sprintf("nats://127.0.0.1:%d", p.client))
		r.leafURL = append(r.leafURL, fmt.Sprintf("nats-leaf://127.0.0.1:%d", p.leaf))
	}
	for i, p := range nodes {
		url := fmt.Sprintf("http://127.0.0.1:%d/healthz", p.monitor)
		poll.Eventually(t, fmt.Sprintf("hub-%d healthy", i+1), 60*time.Second, func() bool {
			res, err := http.Get(url)
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
	}
	return r
}

const edgeSecret = "deploy-edge-secret"

// composeEnv is the .env of compose-edge.yaml with the rig's passwords.
func (r *edgeRig) composeEnv() map[string]string {
	env := composeEdgeEnv()
	for user, pw := range r.passwords {
		env["NATS_"+strings.ToUpper(strings.ReplaceAll(user, "-", "_"))+"_PASSWORD"] = pw
	}
	return env
}

// serviceEnv is the environment compose-edge.yaml gives service, with
// what differs on this machine replaced: the hub's addresses, the webhook
// secret's file, and what compose leaves to the image (the data dir, and
// its listeners' default ports, here free ones).
func (r *edgeRig) serviceEnv(t *testing.T, service string) ([]string, []string) {
	t.Helper()
	p, err := loadComposeEdge(t, r.composeEnv())
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(edgeSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	here := map[string]string{"BRIDGE_LEAF_REMOTE": strings.Join(r.leafURL, ","), "NATS_URL": strings.Join(r.clientURL, ","),
		"STORYLANE_WEBHOOK_SECRET_FILE": secret}
	env := []string{"BRIDGE_DATA_DIR=" + t.TempDir(), "BRIDGE_LISTEN=127.0.0.1:0", "ADMIN_LISTEN=127.0.0.1:0"}
	for k, v := range p.Services[service].Environment {
		if h, ok := here[k]; ok {
			env = append(env, k+"="+h)
		} else if v != nil {
			env = append(env, k+"="+*v)
		}
	}
	return env, p.Services[service].Command
}

// startEdge runs storylane-bridge as compose-edge.yaml runs the named edge,
// and returns its webhook and admin URLs.
func (r *edgeRig) startEdge(t *testing.T, name string) (string, string, *clitest.Process) {
	t.Helper()
	env, _ := r.serviceEnv(t, name)
	p := clitest.StartProcess(t, filepath.Join(r.bin, "storylane-bridge"), env)
	url := "http://" + p.Logs.Wait(t, "listening")["addr"].(string)
	admin := "http://" + p.Logs.Wait(t, "admin listening")["addr"].(string)
	return url, admin, p
}

// runHubTool runs storylane-hub as compose-edge.yaml's hub-setup does, args
// replacing its command when given, and returns its exit status and output.
func (r *edgeRig) runHubTool(t *testing.T, args ...string) (int, string) {
	t.Helper()
	env, command := r.serviceEnv(t, "hub-setup")
	if len(args) == 0 {
		args = command
	}
	p := clitest.StartProcess(t, filepath.Join(r.bin, "storylane-hub"), env, args...)
	code := p.Exit(t)
	return code, p.Logs.String()
}

// admin connects as the operators' user with the inbox prefix the leaf
// users let through, as `nats --inbox-prefix _INBOX.admin` does.
func (r *edgeRig) admin(t *testing.T, domain string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(strings.Join(r.clientURL, ","), nats.UserInfo("admin", r.passwords["admin"]), nats.CustomInboxPrefix("_INBOX.admin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if domain != "" {
		js, err = jetstream.NewWithDomain(nc, domain)
	}
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func sendWebhook(t *testing.T, url string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
	req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(edgeSecret)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d, want 200", url, res.StatusCode)
	}
}

func streamMsgs(js jetstream.JetStream) (uint64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "STORYLANE")
	if err != nil {
		return 0, false
	}
	return s.CachedInfo().State.Msgs, true
}

// TestEdgesThroughHubConfig runs deploy/nats/hub.conf for real: a hub of
// three nats-server processes, two storylane-bridge processes in edge mode
// linked to it as their leaf users, storylane-hub as its user creating the
// R3 stream and both sources, the programs set up as compose-edge.yaml
// sets them up. Every webhook (a tenth sent to both edges)
// ends up on the hub once, both edges' backlogs at 0, storylane-hub
// --check healthy, an operator reads an edge's stream through the hub,
// and nothing anywhere was refused.
func TestEdgesThroughHubConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs five processes")
	}
	r := startHub(t, buildBinaries(t))
	urlA, adminA, edgeA := r.startEdge(t, "edge-a")
	urlB, _, edgeB := r.startEdge(t, "edge-b")
	clitest.GetOK(t, adminA+"/readyz")
	if code, out := r.runHubTool(t); code != 0 {
		t.Fatalf("storylane-hub as its user exited %d:\n%s", code, out)
	}
	const n = 100
	for i := range n {
		body := natstest.SessionBody(i, i%3 == 0)
		sendWebhook(t, []string{urlA, urlB}[i%2], body)
		if i%10 == 0 {
			sendWebhook(t, []string{urlB, urlA}[i%2], body)
		}
	}
	hub := r.admin(t, "")
	var got uint64
	poll.Eventually(t, fmt.Sprintf("%d webhooks on the hub", n), 30*time.Second, func() bool {
		got, _ = streamMsgs(hub)
		return got >= n
	})
	for _, edge := range []string{"edge-a", "edge-b"} {
		var backlog uint64
		if !poll.Within(10*time.Second, func() bool {
			var ok bool
			backlog, ok = streamMsgs(r.admin(t, "edge-"+edge))
			return ok && backlog == 0
		}) {
			t.Errorf("%s's stream, read by an operator through the hub, holds %d, want 0", edge, backlog)
		}
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would land within it
	if got, _ = streamMsgs(hub); got != n {
		t.Errorf("the hub holds %d webhooks, want %d, each once", got, n)
	}
	if code, out := r.runHubTool(t, "--check", "--edges", "edge-a,edge-b"); code != 0 {
		t.Errorf("storylane-hub --check exited %d:\n%s", code, out)
	}
	for i, p := range append(r.hubs, edgeA, edgeB) {
		if log := p.Logs.String(); strings.Contains(log, "Violation") || strings.Contains(log, "not permitted") {
			t.Errorf("process %d (hubs, edge-a, edge-b) logged a refusal:\n%s", i, log)
		}
	}
}

// TestEdgeStatefulSetRuns runs storylane-bridge with the arguments and
// environment edge.yaml gives its container (addresses, paths and the
// secrets' values replaced by this machine's), the downward API's pod name
// and $(VAR) expanded as the kubelet does: it takes them and is ready with
// no hub reachable, as readiness is local.
func TestEdgeStatefulSetRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the bridge")
	}
	bin := buildBinaries(t)
	c := edgeSet(t, render(t)).Spec.Template.Spec.Containers[0]
	here := map[string]string{"--listen": "127.0.0.1:0", "--admin-listen": "127.0.0.1:0", "--data-dir": t.TempDir(),
		"--leaf-remote": fmt.Sprintf("nats-leaf://127.0.0.1:%d", freePort(t))}
	args := slices.Clone(c.Args)
	for i := 0; i+1 < len(args); i++ {
		if v, ok := here[args[i]]; ok {
			args[i+1] = v
		}
	}
	secret := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(secret, []byte(edgeSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	var env []string
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			v = "storylane-edge-0"
		case e.ValueFrom != nil:
			v = "secret"
		case e.Name == "STORYLANE_WEBHOOK_SECRET_FILE":
			v = secret
		}
		v = regexp.MustCompile(`\$\(([A-Z_]+)\)`).ReplaceAllStringFunc(v, func(m string) string { return vars[m[2:len(m)-1]] })
		vars[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	p := clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), env, args...)
	url := "http://" + p.Logs.Wait(t, "listening")["addr"].(string)
	admin := "http://" + p.Logs.Wait(t, "admin listening")["addr"].(string)
	poll.Eventually(t, "the edge ready without its hub", 15*time.Second, func() bool {
		res, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	metrics := clitest.GetOK(t, admin+"/metrics")
	for _, want := range []string{"storylane_bridge_edge_leaf_connected 0", "storylane_bridge_edge_backlog_budget_bytes 8.589934592e+09"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("edge.yaml's edge /metrics lack %q", want)
		}
	}
	if e := p.Logs.Wait(t, "embedded nats started"); e["edge_name"] != "storylane-edge-0" {
		t.Errorf("edge.yaml's edge is named %v, want its pod's name storylane-edge-0", e["edge_name"])
	}
}
