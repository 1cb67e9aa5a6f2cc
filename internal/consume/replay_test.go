package consume_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// memSink keeps a replay's events in memory, refusing those whose id is in
// refuse (as the archive refuses one it cannot render) and failing every
// Put with fail.
type memSink struct {
	refuse map[string]bool
	fail   error

	mu    sync.Mutex
	ids   []string
	syncs int
}

func (s *memSink) Put(e consume.Event) error {
	switch {
	case s.fail != nil:
		return s.fail
	case s.refuse[e.ID()]:
		return consume.Permanent(errors.New("cannot render"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, e.ID())
	return nil
}

func (s *memSink) Sync(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs++
	return nil
}

func (s *memSink) kept() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids), s.syncs
}

func newReplaying(t *testing.T, e env, cfg consume.Config, h consume.Handler, sink consume.Sink) (*consume.Consumer, error) {
	t.Helper()
	return consume.New(t.Context(), e.js, cfg, h, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), consume.AsStored(), consume.WithReplay(sink))
}

// TestReplayThenTheDurable: a replay puts every stored event into the sink
// in order, syncs once, and the new durable delivers only what came after
// what the sink kept: from the first event the sink refused, which the
// durable's handler then gets.
func TestReplayThenTheDurable(t *testing.T) {
	t.Parallel()
	for _, refused := range []int{-1, 2} {
		e := newEnv(t)
		ids := e.publish(t, 5)
		sink := &memSink{refuse: map[string]bool{}}
		want := ids
		if refused >= 0 {
			sink.refuse[ids[refused]] = true
			want = slices.Delete(slices.Clone(ids), refused, refused+1)
		}
		rec := newRecorder()
		h := func(_ context.Context, ev consume.Event) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.attempts[ev.ID()] = append(rec.attempts[ev.ID()], ev.Stored)
			return nil
		}
		c, err := newReplaying(t, e, e.config("replayed"), h, sink)
		if err != nil {
			t.Fatalf("New(WithReplay) = %v, want nil", err)
		}
		if got, syncs := sink.kept(); !slices.Equal(got, want) || syncs != 1 {
			t.Errorf("replay refusing event %d kept %v with %d syncs, want %v with 1", refused, got, syncs, want)
		}
		info := consumerInfo(t, e, "replayed")
		firstNotKept := uint64(len(ids) + 1)
		if refused >= 0 {
			firstNotKept = uint64(refused + 1)
		}
		if info.Config.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || info.Config.OptStartSeq != firstNotKept {
			t.Errorf("replay refusing event %d: durable starts %v at %d, want by start sequence at %d", refused, info.Config.DeliverPolicy, info.Config.OptStartSeq, firstNotKept)
		}
		more := e.publish(t, 1)
		stop := run(t, c)
		poll.Eventually(t, "the event after the replay handled", 15*time.Second, func() bool { return rec.count(more[0]) == 1 })
		stop()
		wantHandled := 1 + len(ids) - int(firstNotKept) + 1
		if rec.total() != wantHandled {
			t.Errorf("replay refusing event %d: the durable handled %d events, want %d", refused, rec.total(), wantHandled)
		}
	}
}

// TestReplayKeepsAnExistingDurable: a replay that kept everything leaves a
// durable that exists where it is; what it has not settled comes again.
func TestReplayKeepsAnExistingDurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("kept")
	cfg.DeliverAll = true
	newConsumer(t, e, cfg, func(context.Context, consume.Event) error { return nil })
	e.publish(t, 3)
	if _, err := newReplaying(t, e, cfg, func(context.Context, consume.Event) error { return nil }, &memSink{}); err != nil {
		t.Fatalf("New(WithReplay) over a durable = %v, want nil", err)
	}
	if info := consumerInfo(t, e, "kept"); info.Config.DeliverPolicy != jetstream.DeliverAllPolicy || info.NumPending != 3 {
		t.Errorf("replay over a durable left it %v with %d pending, want deliver all with the 3 events", info.Config.DeliverPolicy, info.NumPending)
	}
}

// TestReplayIntoABrokenSinkFails: a sink that cannot keep an event ends
// the replay with its error, and no durable is made.
func TestReplayIntoABrokenSinkFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish(t, 2)
	broken := errors.New("disk full")
	if _, err := newReplaying(t, e, e.config("broken"), func(context.Context, consume.Event) error { return nil }, &memSink{fail: broken}); !errors.Is(err, broken) {
		t.Errorf("New(WithReplay(a sink failing with %v)) = %v, want that error", broken, err)
	}
	if _, err := e.js.Consumer(t.Context(), e.stream.Name, "broken"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("after a failed replay, the durable: %v, want none", err)
	}
}

func TestRedriveDoesNotReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := consume.Redrive(t.Context(), e.js, e.config("redriven"), func(context.Context, consume.Event) error { return nil }, zap.NewNop(), consume.WithReplay(&memSink{}))
	if !broker.IsPermanent(err) {
		t.Errorf("Redrive(WithReplay) = %v, want a refusal that waiting cannot cure", err)
	}
}
