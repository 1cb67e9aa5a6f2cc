package natstest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/hub"
)

// Hub is a hub nats-server for bridges in edge mode: JetStream domain hub
// and a leafnode listener on a fixed loopback port, so that it can be
// stopped and restarted on its store where its edges look for it.
type Hub struct {
	tb       testing.TB
	dir      string
	leafPort int
	edits    []func(*server.Options)
	ns       *server.Server
}

// StartHub starts a hub, stopped when the test ends; edits change its
// options (leafnode TLS or authorization) at every start.
func StartHub(tb testing.TB, edits ...func(*server.Options)) *Hub {
	tb.Helper()
	h := &Hub{tb: tb, dir: tb.TempDir(), leafPort: freePort(tb), edits: edits}
	h.start()
	tb.Cleanup(h.Stop)
	return h
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (h *Hub) start() {
	h.tb.Helper()
	opts := &server.Options{ServerName: "hub", Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		JetStreamDomain: "hub", StoreDir: h.dir, NoSigs: true, NoLog: true,
		// As deploy/nats/hub.conf: replies to the hub's requests name the edge.
		FeatureFlags: map[string]bool{server.FeatureFlagJsAPIReplyFormatV2: true},
		LeafNode:     server.LeafNodeOpts{Host: "127.0.0.1", Port: h.leafPort}}
	for _, edit := range h.edits {
		edit(opts)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		h.tb.Fatalf("natstest: hub: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		h.tb.Fatal("natstest: hub not ready after 10s")
	}
	h.ns = ns
}

// Stop shuts the hub down; stopping a stopped hub does nothing.
func (h *Hub) Stop() {
	if h.ns == nil {
		return
	}
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
	h.ns = nil
}

// Restart starts the hub again on its store and leafnode port.
func (h *Hub) Restart() {
	h.tb.Helper()
	h.Stop()
	h.start()
}

// LeafURL is where edges reach the hub, stable across restarts.
func (h *Hub) LeafURL() string { return "nats-leaf://127.0.0.1:" + strconv.Itoa(h.leafPort) }

// URL is the hub's client URL.
func (h *Hub) URL() string { return h.ns.ClientURL() }

// LeafSubscriptions is what each leaf link (by the edge's server name)
// subscribes to on the hub: what the hub sends down it.
func (h *Hub) LeafSubscriptions(tb testing.TB) map[string][]string {
	tb.Helper()
	lz, err := h.ns.Leafz(&server.LeafzOptions{Subscriptions: true})
	if err != nil {
		tb.Fatalf("natstest: hub: %v", err)
	}
	subs := map[string][]string{}
	for _, l := range lz.Leafs {
		subs[l.Name] = append(subs[l.Name], l.Subs...)
	}
	return subs
}

// Leafnodes is how many leaf links the hub has.
func (h *Hub) Leafnodes() int { return h.ns.NumLeafNodes() }

// JetStream returns a JetStream client of the hub on a new connection,
// closed when the test ends.
func (h *Hub) JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(h.ns.ClientURL())
	if err != nil {
		tb.Fatalf("natstest: hub: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest: hub: %v", err)
	}
	return js
}

// WaitEdgeReachable waits until the named edge's HUB consumer answers an
// API request sent through the hub, as storylane-hub does before it
// declares the edge's source (hub.WaitReachable says why): declare each
// source only once this returns.
func (h *Hub) WaitEdgeReachable(tb testing.TB, stream broker.StreamConfig, edge string) {
	tb.Helper()
	nc, err := nats.Connect(h.ns.ClientURL())
	if err != nil {
		tb.Fatalf("natstest: hub: %v", err)
	}
	defer nc.Close()
	if err := hub.WaitReachable(context.Background(), nc, stream.Name, edge, 30*time.Second); err != nil {
		tb.Fatalf("natstest: %v", err)
	}
}

// CreateHubStream creates the hub's stream as issue 15 says it must be: an
// explicit duplicate window (a stream with sources has none by default
// since nats-server 2.14), and one durable source per named edge.
func (h *Hub) CreateHubStream(tb testing.TB, stream broker.StreamConfig, edges ...string) {
	tb.Helper()
	sc := jetstream.StreamConfig{Name: stream.Name, Subjects: []string{stream.Subjects.All()}, Storage: jetstream.FileStorage,
		Duplicates: time.Hour}
	for _, e := range edges {
		sc.Sources = append(sc.Sources, hub.Source(stream.Name, e))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.JetStream(tb).CreateStream(ctx, sc); err != nil {
		tb.Fatalf("natstest: hub stream: %v", err)
	}
}
