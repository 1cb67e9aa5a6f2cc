package natstest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// Edge is a bridge's broker in edge mode, opened as the bridge opens it:
// embedded, linked to a hub, its WorkQueue stream and HUB consumer made.
type Edge struct {
	Name   string
	Stream broker.StreamConfig
	Keeper *broker.StreamKeeper
	NC     *nats.Conn
	Link   *broker.LeafLink
	once   sync.Once
	stop   func()
}

// EdgeStream is the stream of the named edge with the default name and
// subjects, and budget bytes of backlog.
func EdgeStream(name string, budget int64) broker.StreamConfig {
	return broker.StreamConfig{Name: broker.DefaultStream, Subjects: broker.Subjects{Prefix: broker.DefaultSubjectPrefix},
		Duplicates: time.Hour, Replicas: 1, MaxBytes: budget,
		Edge: &broker.EdgeStream{DeliverSubject: broker.EdgeDeliverSubject(name, broker.DefaultStream)}}
}

// StartEdge starts the named edge of h, stopped when the test ends; edits
// change its leaf link (credentials, TLS).
func StartEdge(tb testing.TB, name string, h *Hub, edits ...func(*broker.EdgeConfig)) *Edge {
	tb.Helper()
	stream := EdgeStream(name, 64<<20)
	link := &broker.LeafLink{}
	leaf := &broker.EdgeConfig{Name: name, Remotes: []string{h.LeafURL()}, SubjectPrefix: stream.Subjects.Prefix, Link: link}
	for _, edit := range edits {
		edit(leaf)
	}
	emb := broker.EmbeddedConfig{DataDir: tb.TempDir(), Listen: broker.NoListen, SyncAlways: true,
		Access: &broker.ListenerAccess{Stream: stream.Name, Subjects: stream.Subjects}, Edge: leaf}
	nc, stopBroker, err := broker.Open(broker.ConnConfig{Name: "edge-" + name}, emb, zap.NewNop())
	if err != nil {
		tb.Fatalf("natstest: edge %s: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, err := broker.OpenStream(ctx, nc, stream, broker.PublishOptions{MaxPendingAcks: 256, Timeout: 5 * time.Second}, false, zap.NewNop())
	if err != nil {
		stopBroker()
		tb.Fatalf("natstest: edge %s: %v", name, err)
	}
	run, stopRun := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Run(run); close(done) }()
	e := &Edge{Name: name, Stream: stream, Keeper: k, NC: nc, Link: link, stop: func() { stopRun(); <-done; stopBroker() }}
	tb.Cleanup(e.Stop)
	return e
}

// Stop shuts the edge down; stopping it again does nothing.
func (e *Edge) Stop() { e.once.Do(e.stop) }
