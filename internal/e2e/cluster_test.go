package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// natsConf is the node configuration of deploy/nats, used as it ships.
var natsConf, _ = filepath.Abs("../../deploy/nats/nats.conf")

// cluster is three nats-server processes started from deploy/nats on
// loopback ports, with the users and passwords accounts.conf expects.
type cluster struct {
	t         *testing.T
	nodes     []*node
	passwords map[string]string // user → password
	env       []string
}

type node struct {
	name                 string
	client, route, monit int
	store                string
	proc                 *clitest.Process
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func randomPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, passwords: map[string]string{}}
	vars := map[string]string{"route": "NATS_ROUTE_PASSWORD", "bridge": "NATS_BRIDGE_PASSWORD", "lead-sync": "NATS_LEAD_SYNC_PASSWORD",
		"session-archive": "NATS_SESSION_ARCHIVE_PASSWORD", "session-stats": "NATS_SESSION_STATS_PASSWORD", "admin": "NATS_ADMIN_PASSWORD",
		"sys": "NATS_SYS_PASSWORD"}
	for user, v := range vars {
		c.passwords[user] = randomPassword()
		c.env = append(c.env, v+"="+c.passwords[user])
	}
	ports := freePorts(t, 9)
	var routes []string
	for i := range 3 {
		n := &node{name: fmt.Sprintf("nats-%d", i+1), client: ports[3*i], route: ports[3*i+1], monit: ports[3*i+2], store: t.TempDir()}
		c.nodes = append(c.nodes, n)
		routes = append(routes, fmt.Sprintf("nats://route:%s@127.0.0.1:%d", c.passwords["route"], n.route))
	}
	c.env = append(c.env, "NATS_ROUTES=["+strings.Join(routes, ", ")+"]", "NATS_HOST=127.0.0.1")
	for i := range c.nodes {
		c.start(i)
	}
	c.waitHealthy()
	return c
}

func (c *cluster) start(i int) {
	c.t.Helper()
	n := c.nodes[i]
	env := append(append([]string(nil), c.env...),
		"NATS_SERVER_NAME="+n.name, fmt.Sprintf("NATS_CLIENT_PORT=%d", n.client), fmt.Sprintf("NATS_CLUSTER_PORT=%d", n.route),
		fmt.Sprintf("NATS_MONITOR_PORT=%d", n.monit), "NATS_STORE_DIR="+n.store)
	n.proc = clitest.StartProcess(c.t, binary("nats-server"), env, "-c", natsConf)
}

// kill ends node i with SIGKILL, as a crash would.
func (c *cluster) kill(i int) {
	c.t.Helper()
	c.nodes[i].proc.Signal(c.t, syscall.SIGKILL)
	c.nodes[i].proc.Exit(c.t)
}

// waitHealthy waits until every running node reports JetStream healthy.
func (c *cluster) waitHealthy() {
	c.t.Helper()
	for i := range c.nodes {
		c.waitNode(i)
	}
}

func (c *cluster) waitNode(i int) {
	c.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", c.nodes[i].monit)
	poll.Eventually(c.t, c.nodes[i].name+" healthy", 60*time.Second, func() bool {
		res, err := http.Get(url)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// urls lists every node's client URL.
func (c *cluster) urls() string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, fmt.Sprintf("nats://127.0.0.1:%d", n.client))
	}
	return strings.Join(out, ",")
}

// userEnv is the environment of a program connecting as user, with its
// private inbox prefix.
func (c *cluster) userEnv(user string) []string {
	return []string{"NATS_URL=" + c.urls(), "NATS_USER=" + user, "NATS_PASSWORD=" + c.passwords[user], "NATS_INBOX_PREFIX=_INBOX." + user}
}

// adminConn connects as the operators' user.
func (c *cluster) adminConn() *nats.Conn {
	c.t.Helper()
	nc, err := nats.Connect(c.urls(), nats.UserInfo("admin", c.passwords["admin"]), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// admin is a JetStream client of the operators' user.
func (c *cluster) admin() jetstream.JetStream {
	c.t.Helper()
	js, err := jetstream.New(c.adminConn())
	if err != nil {
		c.t.Fatal(err)
	}
	return js
}

// streamInfo reads the stream's info through js, retrying while the
// cluster settles.
func streamInfo(t *testing.T, js jetstream.JetStream, stream string) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	poll.Eventually(t, "stream "+stream+" info", 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info = s.CachedInfo()
		return info.Cluster != nil && info.Cluster.Leader != ""
	})
	return info
}

// currentLeader asks once which node leads the stream; false when the
// answer does not come or names none.
func (c *cluster) currentLeader(js jetstream.JetStream) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "STORYLANE")
	if err != nil || s.CachedInfo().Cluster == nil || s.CachedInfo().Cluster.Leader == "" {
		return "", false
	}
	return s.CachedInfo().Cluster.Leader, true
}

// failover kills node victim now, and, in the background, waits until
// another node leads the stream and webhooks are being stored again without
// it before starting it again. It returns a channel that yields how many
// webhooks were answered 2xx while the victim was down.
func (c *cluster) failover(js jetstream.JetStream, l *load, victim int) <-chan int {
	c.t.Helper()
	c.kill(victim)
	down := time.Now()
	served := make(chan int, 1)
	go func() {
		n := 0
		// Past 60 s it is started again all the same; the caller checks what
		// was stored meanwhile.
		poll.Within(60*time.Second, func() bool {
			name, ok := c.currentLeader(js)
			// Down for at least two seconds, long enough for the others to
			// store without it and for it to have something to catch up on.
			n = l.successesSince(down)
			return ok && name != c.nodes[victim].name && n >= 20 && time.Since(down) > 2*time.Second
		})
		c.start(victim)
		served <- n
	}()
	return served
}

// leader is the index of the node leading the stream.
func (c *cluster) leader(js jetstream.JetStream) int {
	c.t.Helper()
	name := streamInfo(c.t, js, "STORYLANE").Cluster.Leader
	for i, n := range c.nodes {
		if n.name == name {
			return i
		}
	}
	c.t.Fatalf("stream leader %q is none of the nodes", name)
	return -1
}

// waitCaughtUp waits until every replica of the stream is current.
func (c *cluster) waitCaughtUp(js jetstream.JetStream) {
	c.t.Helper()
	poll.Eventually(c.t, "every replica current", 60*time.Second, func() bool {
		info := streamInfo(c.t, js, "STORYLANE")
		if len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline || r.Lag != 0 {
				return false
			}
		}
		return true
	})
}
