package consume_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func TestRecreatesADeletedDurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	run(t, newConsumer(t, e, e.config("deleted"), func(_ context.Context, ev consume.Event) error {
		rec.record("a", ev)
		return nil
	}))
	e.publish(t, 2)
	poll.Eventually(t, "2 handled", 15*time.Second, func() bool { return rec.total() == 2 })
	if err := e.js.DeleteConsumer(context.Background(), e.stream.Name, "deleted"); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, "the durable created again", 15*time.Second, func() bool {
		_, err := e.js.Consumer(context.Background(), e.stream.Name, "deleted")
		return err == nil
	})
	e.publish(t, 2)
	poll.Eventually(t, "events after the deletion handled", 15*time.Second, func() bool { return rec.total() == 4 })
}

// TestWaitsForADeletedStream: while the stream is missing the consumer
// creates nothing and says so once, not once per attempt; once the stream
// is back, so is the durable.
func TestWaitsForADeletedStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	core, logs := observer.New(zap.WarnLevel)
	rec := newRecorder()
	c, err := consume.New(context.Background(), e.js, e.config("streamless"), func(_ context.Context, ev consume.Event) error {
		rec.record("a", ev)
		return nil
	}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	e.publish(t, 1)
	poll.Eventually(t, "1 handled", 15*time.Second, func() bool { return rec.total() == 1 })
	if err := e.js.DeleteStream(context.Background(), e.stream.Name); err != nil {
		t.Fatal(err)
	}
	const gone = "the stream is gone"
	poll.Eventually(t, "the missing stream logged", 15*time.Second, func() bool { return logs.FilterMessageSnippet(gone).Len() > 0 })
	time.Sleep(2 * time.Second) // several more attempts: 0.1 s doubling to 2 s
	if n := logs.FilterMessageSnippet(gone).Len(); n != 1 {
		t.Errorf("lines logged while the stream was missing = %d, want 1 (at a bounded rate): %v", n, logs.All())
	}
	if _, err := e.js.Stream(context.Background(), e.stream.Name); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("Stream(%s) = %v, want %v: nothing may create it but its owner", e.stream.Name, err, jetstream.ErrStreamNotFound)
	}
	natstest.DefaultStream(t, e.js)
	poll.Eventually(t, "the durable created again", 15*time.Second, func() bool {
		_, err := e.js.Consumer(context.Background(), e.stream.Name, "streamless")
		return err == nil
	})
	e.publish(t, 2)
	poll.Eventually(t, "events after the stream came back handled", 15*time.Second, func() bool { return rec.total() == 3 })
}
