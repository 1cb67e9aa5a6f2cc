package e2e_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// hubProc is a hub of edge mode as a nats-server process: JetStream
// domain hub, a leafnode listener, js_api_reply_v2 as deploy/nats/hub.conf, its own store, all on fixed loopback
// ports so that it comes back where its edges and the test look for it.
type hubProc struct {
	t                   *testing.T
	client, leaf, monit int
	conf                string
	proc                *clitest.Process
}

const hubConf = `server_name: hub
host: 127.0.0.1
port: %d
http: "127.0.0.1:%d"
jetstream { domain: hub, store_dir: %q }
leafnodes { host: 127.0.0.1, port: %d }
feature_flags { js_api_reply_v2: true }
`

func startHubProc(t *testing.T) *hubProc {
	t.Helper()
	ports := freePorts(t, 3)
	dir := t.TempDir()
	h := &hubProc{t: t, client: ports[0], leaf: ports[1], monit: ports[2], conf: filepath.Join(dir, "hub.conf")}
	conf := fmt.Sprintf(hubConf, h.client, h.monit, filepath.Join(dir, "store"), h.leaf)
	if err := os.WriteFile(h.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	return h
}

// start runs the server on its store and waits until JetStream is healthy.
func (h *hubProc) start() {
	h.t.Helper()
	h.proc = clitest.StartProcess(h.t, binary("nats-server"), nil, "-c", h.conf)
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", h.monit)
	poll.Eventually(h.t, "hub healthy", 60*time.Second, func() bool { return httpStatus(url) == http.StatusOK })
}

// kill ends the hub with SIGKILL, as a crash would.
func (h *hubProc) kill() {
	h.t.Helper()
	h.proc.Signal(h.t, syscall.SIGKILL)
	h.proc.Exit(h.t)
}

func (h *hubProc) url() string      { return fmt.Sprintf("nats://127.0.0.1:%d", h.client) }
func (h *hubProc) leafAddr() string { return fmt.Sprintf("127.0.0.1:%d", h.leaf) }

// createStream runs storylane-hub as an operator would: the hub's stream
// with an explicit window, and a durable source per edge.
func (h *hubProc) createStream(edges ...string) {
	h.t.Helper()
	p := clitest.StartProcess(h.t, binary("storylane-hub"), nil, "--nats-url", h.url(), "--duplicate-window", "1h",
		"--edges", strings.Join(edges, ","), "--edge-timeout", "20s")
	if code := p.Exit(h.t); code != 0 {
		h.t.Fatalf("storylane-hub --edges %v exited %d:\n%s", edges, code, p.Logs)
	}
}

// edgeProc is a bridge process in edge mode, on fixed loopback ports and a
// data dir of its own, so that it can be killed and started again on it.
type edgeProc struct {
	t                         *testing.T
	name, remote, dir         string
	listen, admin, natsListen int
	extra                     []string
	proc                      *clitest.Process
}

func newEdgeProc(t *testing.T, name, remote string, extra ...string) *edgeProc {
	t.Helper()
	ports := freePorts(t, 3)
	return &edgeProc{t: t, name: name, remote: remote, dir: t.TempDir(), listen: ports[0], admin: ports[1], natsListen: ports[2], extra: extra}
}

// start runs the bridge and returns how long it took to answer /readyz 200.
func (e *edgeProc) start() time.Duration {
	e.t.Helper()
	began := time.Now()
	args := append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", e.listen), "--admin-listen", fmt.Sprintf("127.0.0.1:%d", e.admin),
		"--nats-listen", fmt.Sprintf("127.0.0.1:%d", e.natsListen), "--leaf-remote", e.remote, "--edge-name", e.name}, e.extra...)
	e.proc = clitest.StartProcess(e.t, binary("storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET=" + secret, "BRIDGE_DATA_DIR=" + e.dir}, args...)
	if !poll.Within(30*time.Second, func() bool { return ready(e.url()) == http.StatusOK }) {
		e.t.Fatalf("edge %s not ready after 30s; log:\n%s", e.name, e.proc.Logs)
	}
	return time.Since(began)
}

func (e *edgeProc) kill() {
	e.t.Helper()
	e.proc.Signal(e.t, syscall.SIGKILL)
	e.proc.Exit(e.t)
}

func (e *edgeProc) url() string     { return fmt.Sprintf("http://127.0.0.1:%d", e.listen) }
func (e *edgeProc) natsURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", e.natsListen) }

// backlog reads storylane_bridge_edge_backlog_messages from the edge's
// /metrics; false when it cannot be read.
func (e *edgeProc) backlog() (int, bool) {
	n, ok := e.metric("storylane_bridge_edge_backlog_messages")
	return int(n), ok
}

// linked reports whether the edge's leaf link to the hub is up.
func (e *edgeProc) linked() bool {
	n, ok := e.metric("storylane_bridge_edge_leaf_connected")
	return ok && n == 1
}

// metric reads an unlabelled metric from the edge's /metrics.
func (e *edgeProc) metric(name string) (float64, bool) {
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", e.admin))
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func httpStatus(url string) int {
	res, err := http.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}
