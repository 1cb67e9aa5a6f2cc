// Package natstest runs a real JetStream server for tests: on a free
// loopback port, storing under the test's temporary directory, stopped when
// the test ends. It can be stopped and restarted on the same port and data
// to test outages.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// Server is an embedded JetStream server owned by one test.
type Server struct {
	tb   testing.TB
	ns   *broker.Embedded
	dir  string
	addr string
}

// Start starts a server on 127.0.0.1 and a free port.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, dir: tb.TempDir(), addr: "127.0.0.1:0"}
	s.start()
	s.addr = s.ns.Addr().String()
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.tb.Helper()
	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{Listen: s.addr, DataDir: s.dir}, zap.NewNop())
	if err != nil {
		s.tb.Fatalf("natstest: %v", err)
	}
	s.ns = ns
}

// URL is the client URL, stable across restarts.
func (s *Server) URL() string { return "nats://" + s.addr }

// Stop shuts the server down; stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.ns == nil {
		return
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.ns = nil
}

// Restart starts the server again on the same port and data, as a broker
// coming back after an outage.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// Conn returns a client connection that reconnects quickly and is closed
// when the test ends.
func (s *Server) Conn(tb testing.TB) *nats.Conn {
	tb.Helper()
	nc, err := broker.Connect(broker.ConnConfig{URL: s.URL(), Name: tb.Name(), ReconnectWait: 50 * time.Millisecond}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	waitConnected(tb, nc)
	return nc
}

// waitConnected waits for nc to be connected, for a test that follows a
// restart: requests fail at once while a connection is reconnecting.
func waitConnected(tb testing.TB, nc *nats.Conn) {
	tb.Helper()
	if !poll.Within(10*time.Second, nc.IsConnected) {
		tb.Fatalf("natstest: no connection to %s", nc.ConnectedUrlRedacted())
	}
}

// JetStream returns a JetStream client on a new connection.
func (s *Server) JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	js, err := jetstream.New(s.Conn(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// Messages returns every message stored in stream, in order.
func Messages(tb testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	tb.Helper()
	waitConnected(tb, js.Conn())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		tb.Fatalf("natstest: stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatalf("natstest: stream %s info: %v", stream, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatalf("natstest: stream %s message %d: %v", stream, seq, err)
		}
		out = append(out, m)
	}
	return out
}

// DefaultStream creates the bridge's default stream (STORYLANE over
// storylane.>, a one-hour duplicate window) and returns its configuration.
func DefaultStream(tb testing.TB, js jetstream.JetStream) broker.StreamConfig {
	tb.Helper()
	cfg := broker.StreamConfig{
		Name:       broker.DefaultStream,
		Subjects:   broker.Subjects{Prefix: broker.DefaultSubjectPrefix},
		Duplicates: time.Hour,
		Replicas:   1,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := broker.EnsureStream(ctx, js, cfg); err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	return cfg
}

// Fixture is a server with the bridge's stream on it, where a consumer's
// tests start.
type Fixture struct {
	NATS   *Server
	JS     jetstream.JetStream
	Stream broker.StreamConfig
}

// NewFixture starts a server and creates the default stream on it.
func NewFixture(tb testing.TB) Fixture {
	tb.Helper()
	srv := Start(tb)
	js := srv.JetStream(tb)
	return Fixture{NATS: srv, JS: js, Stream: DefaultStream(tb, js)}
}
