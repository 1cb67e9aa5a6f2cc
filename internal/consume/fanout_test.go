package consume_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func TestOneDurableSharesTheWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	handler := func(who string) consume.Handler {
		return func(_ context.Context, ev consume.Event) error {
			rec.record(who, ev)
			time.Sleep(2 * time.Millisecond)
			return nil
		}
	}
	cfg := e.config("shared")
	cfg.MaxInFlight = 4
	run(t, newConsumer(t, e, cfg, handler("a")))
	run(t, newConsumer(t, e, cfg, handler("b")))
	ids := e.publish(t, 200)
	poll.Eventually(t, "all 200 handled", 15*time.Second, func() bool { return rec.total() == 200 })
	poll.Eventually(t, "all acknowledged", 15*time.Second, func() bool { return consumerInfo(t, e, "shared").NumAckPending == 0 })
	per := map[string]int{}
	for _, id := range ids {
		if n := rec.count(id); n != 1 {
			t.Errorf("event %s handled %d times by %q, want once", id, n, rec.by[id])
		}
		per[rec.by[id]]++
	}
	if per["a"] == 0 || per["b"] == 0 {
		t.Errorf("instances handled %v, want both to take a share", per)
	}
}

func TestDifferentDurablesEachGetEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	crm, archive := newRecorder(), newRecorder()
	record := func(r *recorder) consume.Handler {
		return func(_ context.Context, ev consume.Event) error { r.record("x", ev); return nil }
	}
	known := e.config("crm")
	known.FilterSubjects = []string{"storylane.session.known"}
	run(t, newConsumer(t, e, known, record(crm)))
	run(t, newConsumer(t, e, e.config("archive"), record(archive)))
	ids := e.publish(t, 30) // even ones known
	poll.Eventually(t, "the archive got all 30", 15*time.Second, func() bool { return archive.total() == 30 })
	poll.Eventually(t, "the crm got the 15 known", 15*time.Second, func() bool { return crm.total() == 15 })
	for i, id := range ids {
		if got, want := crm.count(id), 1-i%2; got != want {
			t.Errorf("crm handled event %d %d times, want %d", i, got, want)
		}
	}
}

func TestShutdownFinishesHandlersInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("shutdown")
	cfg.MaxInFlight = 5
	release := make(chan struct{})
	var started, finished atomic.Int32
	c := newConsumer(t, e, cfg, func(ctx context.Context, ev consume.Event) error {
		started.Add(1)
		<-release
		if ctx.Err() != nil {
			return errors.New("handler context cancelled by shutdown")
		}
		finished.Add(1)
		return nil
	})
	stop := run(t, c)
	e.publish(t, 20)
	poll.Eventually(t, "5 handlers running", 15*time.Second, func() bool { return started.Load() == 5 })
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned while handlers were still running")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	<-stopped
	if started.Load() != 5 || finished.Load() != 5 {
		t.Errorf("started %d, finished %d handlers, want 5 and 5: nothing new after shutdown, all in flight finished", started.Load(), finished.Load())
	}
	// Acks are sent without waiting, and the server applies them from a
	// queue of its own, after the info request may have been answered.
	var info *jetstream.ConsumerInfo
	if !poll.Within(5*time.Second, func() bool {
		info = consumerInfo(t, e, "shutdown")
		return info.NumAckPending == 0 && info.NumPending == 15
	}) {
		t.Errorf("after shutdown: %d unacknowledged, %d pending, want 0 and 15", info.NumAckPending, info.NumPending)
	}
}

func TestRedriveGivesDeadLettersOneMoreTry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("crm")
	var mu sync.Mutex
	healthy := map[string]bool{}
	c := newConsumer(t, e, cfg, func(_ context.Context, ev consume.Event) error {
		return consume.Permanent(errors.New("target down for maintenance"))
	})
	stop := run(t, c)
	ids := e.publish(t, 4)
	poll.Eventually(t, "4 dead letters", 15*time.Second, func() bool { return len(deadLetters(t, e, "crm")) == 4 })
	stop()

	// The target is back for three of the four.
	for _, id := range ids[:3] {
		healthy[id] = true
	}
	handled := newRecorder()
	r, err := consume.Redrive(context.Background(), e.js, cfg, func(_ context.Context, ev consume.Event) error {
		handled.record("r", ev)
		mu.Lock()
		defer mu.Unlock()
		if healthy[ev.CloudEvent.ID()] {
			return nil
		}
		return errors.New("still failing")
	}, zapNop())
	if err != nil {
		t.Fatal(err)
	}
	runToEnd(t, r, 20*time.Second)
	if handled.total() != 4 {
		t.Errorf("re-drive handled %d events, want the 4 dead letters", handled.total())
	}
	dls := deadLetters(t, e, "crm")
	if len(dls) != 5 {
		t.Fatalf("%d dead letters after the re-drive, want the 4 old and 1 new", len(dls))
	}
	again := dls[4]
	if again.Header.Get("ce-id") != ids[3] || again.Header.Get(consume.DeadLetterAttemptsHeader) != "2" ||
		again.Header.Get(consume.DeadLetterSubjectHeader) == "storylane.dlq.crm" {
		t.Errorf("re-dead-lettered %s with attempts %s from %s, want %s, 2, the original session subject", again.Header.Get("ce-id"),
			again.Header.Get(consume.DeadLetterAttemptsHeader), again.Header.Get(consume.DeadLetterSubjectHeader), ids[3])
	}
}

// deadLetterAll runs a consumer whose handler always fails permanently
// until n events are dead-lettered, and returns their ids.
func deadLetterAll(t *testing.T, e env, cfg consume.Config, n int) []string {
	t.Helper()
	stop := run(t, newConsumer(t, e, cfg, func(context.Context, consume.Event) error {
		return consume.Permanent(errors.New("target down"))
	}))
	ids := e.publish(t, n)
	poll.Eventually(t, "all dead-lettered", 15*time.Second, func() bool { return len(deadLetters(t, e, cfg.Durable)) == n })
	stop()
	return ids
}

func redrive(t *testing.T, e env, cfg consume.Config, h consume.Handler, before func()) {
	t.Helper()
	r, err := consume.Redrive(context.Background(), e.js, cfg, h, zapNop())
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before()
	}
	runToEnd(t, r, 30*time.Second)
}

func TestRedriveNeverRepeatsASuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("crm2")
	ids := deadLetterAll(t, e, cfg, 3)
	first, second := newRecorder(), newRecorder()
	redrive(t, e, cfg, func(_ context.Context, ev consume.Event) error {
		first.record("r", ev)
		if ev.CloudEvent.ID() == ids[0] {
			return errors.New("still failing")
		}
		return nil
	}, nil)
	redrive(t, e, cfg, func(_ context.Context, ev consume.Event) error {
		second.record("r", ev)
		return nil
	}, nil)
	if first.total() != 3 {
		t.Errorf("first re-drive handled %d events, want 3", first.total())
	}
	if second.total() != 1 || second.count(ids[0]) != 1 {
		t.Errorf("second re-drive handled %d events, want only the one that failed again", second.total())
	}
}

// TestRedriveWaitsForADeadLetterHeldElsewhere: a dead letter delivered to
// a re-drive that died is handled once its ack wait runs out, not skipped.
func TestRedriveWaitsForADeadLetterHeldElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("crm3")
	cfg.AckWait = time.Second
	ids := deadLetterAll(t, e, cfg, 3)
	handled := newRecorder()
	redrive(t, e, cfg, func(_ context.Context, ev consume.Event) error {
		handled.record("r", ev)
		return nil
	}, func() {
		raw, err := e.js.Consumer(context.Background(), e.stream.Name, "crm3-redrive")
		if err != nil {
			t.Fatal(err)
		}
		batch, err := raw.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for range batch.Messages() { // taken, never settled
		}
		// A dead letter stored after the re-drive began.
		e.publish(t, 0)
	})
	for _, id := range ids {
		if handled.count(id) != 1 {
			t.Errorf("re-drive handled event %s %d times, want once", id, handled.count(id))
		}
	}
}

// runToEnd runs a re-drive, which ends by itself once it has settled every
// dead letter, and fails the test if it fails or has not ended by limit.
func runToEnd(t *testing.T, r *consume.Consumer, limit time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("re-drive Run() = %v, want nil", err)
		}
	case <-time.After(limit):
		t.Fatal("re-drive did not finish by itself")
	}
}
