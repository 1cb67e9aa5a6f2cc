package broker_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// hub is a hub nats-server for edges: JetStream domain hub, a leafnode
// listener on a fixed loopback port, so that it can be restarted on its
// store where its edges look for it.
type hub struct {
	t        *testing.T
	dir      string
	leafPort int
	ns       *server.Server
}

func startHub(t *testing.T) *hub {
	t.Helper()
	h := &hub{t: t, dir: t.TempDir(), leafPort: freePort(t)}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (h *hub) start() {
	h.t.Helper()
	opts := &server.Options{ServerName: "hub", Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		JetStreamDomain: "hub", StoreDir: h.dir, NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: h.leafPort}}
	ns, err := server.NewServer(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		h.t.Fatal("hub not ready")
	}
	h.ns = ns
}

func (h *hub) stop() {
	if h.ns != nil {
		h.ns.Shutdown()
		h.ns.WaitForShutdown()
		h.ns = nil
	}
}

func (h *hub) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

func (h *hub) leafURL() string { return "nats-leaf://127.0.0.1:" + strconv.Itoa(h.leafPort) }

// js is a JetStream client of the hub on a new connection, closed when the
// test ends.
func (h *hub) js() jetstream.JetStream {
	h.t.Helper()
	nc, err := nats.Connect(h.ns.ClientURL())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		h.t.Fatal(err)
	}
	return js
}

// createStream creates the hub's STORYLANE stream as issue 15 says it must
// be: an explicit duplicate window (a stream with sources defaults to none
// since nats-server 2.14), and one durable source per edge.
func (h *hub) createStream(edges ...string) {
	h.t.Helper()
	sc := jetstream.StreamConfig{Name: "STORYLANE", Subjects: []string{"storylane.>"}, Storage: jetstream.FileStorage,
		Duplicates: time.Hour}
	for _, e := range edges {
		sc.Sources = append(sc.Sources, &jetstream.StreamSource{Name: "STORYLANE",
			External: &jetstream.ExternalStream{APIPrefix: "$JS." + broker.EdgeDomain(e) + ".API"},
			Consumer: &jetstream.StreamConsumerSource{Name: broker.HubConsumer, DeliverSubject: broker.EdgeDeliverSubject(e, "STORYLANE")}})
	}
	if _, err := h.js().CreateStream(ctx(h.t), sc); err != nil {
		h.t.Fatal(err)
	}
}

// edge is a bridge's broker in edge mode, as the bridge opens it.
type edge struct {
	name   string
	nc     *nats.Conn
	keeper *broker.StreamKeeper
	js     jetstream.JetStream
}

func startEdge(t *testing.T, name string, h *hub) *edge {
	t.Helper()
	stream := edgeStreamConfig(name, 64<<20)
	emb := broker.EmbeddedConfig{DataDir: t.TempDir(), Listen: broker.NoListen, SyncAlways: true,
		Access: &broker.ListenerAccess{Stream: stream.Name, Subjects: stream.Subjects},
		Edge:   &broker.EdgeConfig{Name: name, Remotes: []string{h.leafURL()}, SubjectPrefix: stream.Subjects.Prefix}}
	nc, stop, err := broker.Open(broker.ConnConfig{Name: "edge-" + name}, emb, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	k, err := broker.OpenStream(ctx(t), nc, stream, broker.PublishOptions{MaxPendingAcks: 256, Timeout: 5 * time.Second}, false, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Run(c); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &edge{name: name, nc: nc, keeper: k, js: js}
}

// publish stores the events of ids at the edge; every one must be
// acknowledged by the edge itself, whether or not the hub is there.
func (e *edge) publish(t *testing.T, ids []string) {
	t.Helper()
	for _, id := range ids {
		ack, err := e.keeper.Publish(ctx(t), &nats.Msg{Subject: "storylane.session.known", Data: []byte(`{"id":"` + id + `"}`),
			Header: nats.Header{"Nats-Msg-Id": {id}}})
		if err != nil {
			t.Fatalf("edge %s: Publish(%s) = %v, want an ack", e.name, id, err)
		}
		if ack.Domain != broker.EdgeDomain(e.name) {
			t.Fatalf("edge %s: Publish(%s) acknowledged by domain %q, want %q: the event went past the edge's stream", e.name, id, ack.Domain, broker.EdgeDomain(e.name))
		}
	}
}

func (e *edge) backlog(t *testing.T) uint64 {
	t.Helper()
	s, err := e.js.Stream(ctx(t), "STORYLANE")
	if err != nil {
		t.Fatalf("edge %s: %v", e.name, err)
	}
	return s.CachedInfo().State.Msgs
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// waitForwarded waits until the hub holds want events and every edge is
// empty, then checks that the hub holds each id once.
func waitForwarded(t *testing.T, h *hub, want map[string]bool, edges ...*edge) {
	t.Helper()
	js := h.js()
	var got, left uint64
	if !poll.Within(30*time.Second, func() bool {
		s, err := js.Stream(ctx(t), "STORYLANE")
		if err != nil {
			return false
		}
		got, left = s.CachedInfo().State.Msgs, 0
		for _, e := range edges {
			left += e.backlog(t)
		}
		return got >= uint64(len(want)) && left == 0
	}) {
		t.Fatalf("after 30s the hub holds %d events, want %d; %d are still on the edges", got, len(want), left)
	}
	seen := map[string]int{}
	for _, m := range natstest.Messages(t, js, "STORYLANE") {
		seen[m.Header.Get("Nats-Msg-Id")]++
	}
	for id, n := range seen {
		if !want[id] || n != 1 {
			t.Errorf("hub holds %s %d times, want it %s", id, n, map[bool]string{true: "once", false: "never"}[want[id]])
		}
	}
	for id := range want {
		if seen[id] == 0 {
			t.Errorf("hub is missing %s", id)
		}
	}
}

// TestEdgesForwardToTheHubExactlyOnce: webhooks stored at two edges reach
// the hub once each, those sent to both edges too, and leave the edges
// empty; with the hub down the edges still acknowledge, and once it is back
// on its store the backlog drains, exactly once.
func TestEdgesForwardToTheHubExactlyOnce(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	h.createStream("a", "b")
	a, b := startEdge(t, "a", h), startEdge(t, "b", h)
	want := map[string]bool{}
	send := func(phase string) {
		own, shared := ids(phase+"-a", 150), ids(phase+"-both", 30)
		a.publish(t, own)
		b.publish(t, ids(phase+"-b", 150))
		a.publish(t, shared)
		b.publish(t, shared) // Storylane's retry reaching the other edge
		for _, id := range append(append(own, shared...), ids(phase+"-b", 150)...) {
			want[id] = true
		}
	}
	start := time.Now()
	send("linked")
	waitForwarded(t, h, want, a, b)
	t.Logf("360 events sent and forwarded by two linked edges in %v", time.Since(start).Round(10*time.Millisecond))

	h.stop()
	send("hub-down")
	if got := a.backlog(t) + b.backlog(t); got != 360 {
		t.Errorf("edges hold %d events with the hub down, want the 360 sent meanwhile", got)
	}
	for _, e := range []*edge{a, b} {
		if err := e.keeper.Ready(ctx(t)); err != nil {
			t.Errorf("edge %s: Ready() with the hub down = %v, want nil: readiness is local", e.name, err)
		}
	}
	start = time.Now()
	h.restart()
	// Measured: the leaf links are back within about a second, the
	// backlog flows some 5 s later: the hub's sources send their consumer
	// reset at start, before the links are back, and wait 5 s for an
	// answer (nats-server's srcDurableConsumerWaitTime) before retrying.
	poll.Within(10*time.Second, func() bool { return h.ns.NumLeafNodes() == 2 })
	t.Logf("leaf links back %v after the hub restarted", time.Since(start).Round(10*time.Millisecond))
	waitForwarded(t, h, want, a, b)
	t.Logf("backlog of 360 events on two edges forwarded %v after the hub restarted", time.Since(start).Round(10*time.Millisecond))
}
