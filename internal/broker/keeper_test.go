package broker_test

import (
	"context"
	"errors"
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

// runKeeper starts a keeper of the default stream over js, running until
// the test ends.
func runKeeper(t *testing.T, js jetstream.JetStream) *broker.StreamKeeper {
	t.Helper()
	return runKeeperOf(t, js, streamConfig())
}

// runKeeperOf is runKeeper for the stream of cfg.
func runKeeperOf(t *testing.T, js jetstream.JetStream, cfg broker.StreamConfig) *broker.StreamKeeper {
	t.Helper()
	k := broker.NewStreamKeeper(broker.NewPublisher(js, cfg.Name), js, cfg, zap.NewNop())
	c, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Run(c); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return k
}

func event(id string) *nats.Msg {
	return &nats.Msg{Subject: "storylane.session.known", Data: []byte(`{"id":"` + id + `"}`), Header: nats.Header{"Nats-Msg-Id": {id}}}
}

func TestKeeperRecreatesADeletedStreamForThePublish(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	k := runKeeper(t, js)
	if _, err := k.Publish(ctx(t), event("before")); err != nil {
		t.Fatal(err)
	}
	admin := srv.JetStream(t)
	for round := range 3 { // deleted again after each re-creation
		if err := admin.DeleteStream(ctx(t), broker.DefaultStream); err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ack, err := k.Publish(c, event("after"))
		cancel()
		if err != nil || ack.Stream != broker.DefaultStream || ack.Sequence != 1 {
			t.Fatalf("round %d: Publish after the stream was deleted = %+v, %v, want the first event of a re-created stream", round, ack, err)
		}
		if msgs := natstest.Messages(t, admin, broker.DefaultStream); len(msgs) != 1 {
			t.Errorf("round %d: the re-created stream holds %d messages, want 1", round, len(msgs))
		}
	}
	s, err := admin.Stream(ctx(t), broker.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; c.Storage != jetstream.FileStorage || c.Duplicates != time.Hour || c.Subjects[0] != "storylane.>" {
		t.Errorf("re-created stream = %+v, want the bridge's settings: file storage, 1h duplicate window, storylane.>", c)
	}
	if err := k.Healthy(ctx(t)); err != nil {
		t.Errorf("Healthy() after re-creating the stream = %v, want nil", err)
	}
}

func TestKeeperRecreatesAStreamThatReadinessFindsMissing(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	js := srv.JetStream(t)
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	k := runKeeper(t, js)
	if err := srv.JetStream(t).DeleteStream(ctx(t), broker.DefaultStream); err != nil {
		t.Fatal(err)
	}
	if err := k.Ready(ctx(t)); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("Ready() right after the delete = %v, want stream not found", err)
	}
	if !poll.Within(5*time.Second, func() bool { return k.Ready(ctx(t)) == nil }) {
		t.Errorf("Ready() = %v 5s after it found the stream missing, want nil: the stream re-created", k.Ready(ctx(t)))
	}
}

// TestKeeperUnhealthyWhenItMayNotCreateTheStream: a least-privilege user
// that may publish events and look the stream up, but not create it,
// cannot heal a deleted stream; the keeper says so through Healthy, and is
// healthy again once someone else re-creates the stream.
func TestKeeperUnhealthyWhenItMayNotCreateTheStream(t *testing.T) {
	t.Parallel()
	addr := startAuthServer(t, &server.Options{JetStream: true, StoreDir: t.TempDir(), Users: []*server.User{
		{Username: "admin", Password: "admin"},
		{Username: "bridge", Password: "bridge", Permissions: &server.Permissions{Publish: &server.SubjectPermission{
			Allow: []string{"storylane.>", "$JS.API.STREAM.INFO.STORYLANE"}}}},
	}})
	adminJS := authJetStream(t, addr, "admin")
	if _, err := broker.EnsureStream(ctx(t), adminJS, streamConfig()); err != nil {
		t.Fatal(err)
	}
	k := runKeeper(t, authJetStream(t, addr, "bridge"))
	if _, err := k.Publish(ctx(t), event("before")); err != nil {
		t.Fatalf("Publish as a user that may publish = %v, want nil", err)
	}
	if err := adminJS.DeleteStream(ctx(t), broker.DefaultStream); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := k.Publish(c, event("after"))
	cancel()
	if err == nil {
		t.Fatal("Publish with the stream deleted and no right to create it = nil error, want an error")
	}
	if !poll.Within(15*time.Second, func() bool { return k.Healthy(ctx(t)) != nil }) {
		t.Fatal("Healthy() = nil 15s after the stream was deleted, want an error: the bridge may not re-create it")
	}
	if err := k.Healthy(ctx(t)); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("Healthy() = %v, want the permissions violation", err)
	}
	if _, err := broker.EnsureStream(ctx(t), adminJS, streamConfig()); err != nil {
		t.Fatal(err)
	}
	if !poll.Within(30*time.Second, func() bool { return k.Healthy(ctx(t)) == nil }) {
		t.Errorf("Healthy() = %v after an admin re-created the stream, want nil", k.Healthy(ctx(t)))
	}
}

func authJetStream(t *testing.T, addr, user string) jetstream.JetStream {
	t.Helper()
	nc, err := broker.Connect(broker.ConnConfig{URL: "nats://" + addr, User: user, Password: user}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if !poll.Within(5*time.Second, nc.IsConnected) {
		t.Fatalf("%s: not connected", user)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
