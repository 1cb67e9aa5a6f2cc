package consume_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type env struct {
	js     jetstream.JetStream
	stream broker.StreamConfig
}

func newEnv(t *testing.T) env {
	t.Helper()
	js := natstest.Start(t).JetStream(t)
	return env{js: js, stream: natstest.DefaultStream(t, js)}
}

func (e env) config(durable string) consume.Config {
	return consume.Config{
		Stream:         e.stream.Name,
		Subjects:       e.stream.Subjects,
		Durable:        durable,
		FilterSubjects: []string{"storylane.session.>"},
		AckWait:        5 * time.Second,
		Backoff:        []time.Duration{50 * time.Millisecond},
	}
}

// publish stores n sessions, known when i is even, and returns their ids.
func (e env) publish(t *testing.T, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		body := natstest.SessionBody(int(time.Now().UnixNano()%1e9)*1000+i, i%2 == 0)
		ids = append(ids, natstest.Publish(t, e.js, e.stream, body))
	}
	return ids
}

// run starts c.Run and returns a function that stops it and waits.
func run(t *testing.T, c *consume.Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newConsumer(t *testing.T, e env, cfg consume.Config, h consume.Handler) *consume.Consumer {
	t.Helper()
	c, err := consume.New(context.Background(), e.js, cfg, h, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recorder counts the attempts a handler saw per event id.
type recorder struct {
	mu       sync.Mutex
	attempts map[string][]time.Time
	by       map[string]string // event id → which consumer handled it
}

func newRecorder() *recorder {
	return &recorder{attempts: map[string][]time.Time{}, by: map[string]string{}}
}

func (r *recorder) record(who string, e consume.Event) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := e.CloudEvent.ID()
	r.attempts[id] = append(r.attempts[id], time.Now())
	r.by[id] += who
	return len(r.attempts[id])
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attempts[id])
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attempts)
}

func consumerInfo(t *testing.T, e env, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := e.js.Consumer(context.Background(), e.stream.Name, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func deadLetters(t *testing.T, e env, durable string) []*jetstream.RawStreamMsg {
	t.Helper()
	var out []*jetstream.RawStreamMsg
	for _, m := range natstest.Messages(t, e.js, e.stream.Name) {
		if m.Subject == e.stream.Subjects.DeadLetter(durable) {
			out = append(out, m)
		}
	}
	return out
}

func TestAcksHandledEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	c := newConsumer(t, e, e.config("acks"), func(_ context.Context, ev consume.Event) error {
		if ev.Session.ID == "" || ev.CloudEvent.Type() == "" {
			return consume.Permanent(errors.New("event not decoded"))
		}
		rec.record("a", ev)
		return nil
	})
	run(t, c)
	ids := e.publish(t, 20)
	poll.Eventually(t, "all 20 handled", 15*time.Second, func() bool { return rec.total() == 20 })
	poll.Eventually(t, "all acknowledged", 15*time.Second, func() bool {
		info := consumerInfo(t, e, "acks")
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	for _, id := range ids {
		if n := rec.count(id); n != 1 {
			t.Errorf("event %s handled %d times, want 1", id, n)
		}
	}
	if n := len(deadLetters(t, e, "acks")); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("retries")
	cfg.Backoff = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond}
	rec := newRecorder()
	c := newConsumer(t, e, cfg, func(_ context.Context, ev consume.Event) error {
		if n := rec.record("a", ev); n < 3 {
			return fmt.Errorf("target unavailable (attempt %d)", n)
		}
		return nil
	})
	run(t, c)
	id := e.publish(t, 1)[0]
	poll.Eventually(t, "handled three times", 15*time.Second, func() bool { return rec.count(id) == 3 })
	rec.mu.Lock()
	times := rec.attempts[id]
	rec.mu.Unlock()
	for i, want := range cfg.Backoff {
		if gap := times[i+1].Sub(times[i]); gap < want {
			t.Errorf("retry %d came %v after attempt %d, want at least the back-off %v", i+1, gap, i+1, want)
		}
	}
	poll.Eventually(t, "acknowledged", 15*time.Second, func() bool { return consumerInfo(t, e, "retries").NumAckPending == 0 })
	time.Sleep(300 * time.Millisecond)
	if n := rec.count(id); n != 3 {
		t.Errorf("handled %d times, want 3: success must end the retries", n)
	}
}

func TestHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	c := newConsumer(t, e, e.config("retry-after"), func(_ context.Context, ev consume.Event) error {
		if rec.record("a", ev) == 1 {
			return consume.RetryAfter(errors.New("429"), 500*time.Millisecond)
		}
		return nil
	})
	run(t, c)
	id := e.publish(t, 1)[0]
	poll.Eventually(t, "retried", 15*time.Second, func() bool { return rec.count(id) == 2 })
	rec.mu.Lock()
	gap := rec.attempts[id][1].Sub(rec.attempts[id][0])
	rec.mu.Unlock()
	if gap < 500*time.Millisecond {
		t.Errorf("retry came %v after a Retry-After of 500ms, want at least 500ms", gap)
	}
}

func TestDeadLettersWhenRetriesRunOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("exhaust")
	cfg.MaxDeliver = 3
	rec := newRecorder()
	c := newConsumer(t, e, cfg, func(_ context.Context, ev consume.Event) error {
		rec.record("a", ev)
		return errors.New("target keeps failing")
	})
	run(t, c)
	id := e.publish(t, 1)[0]
	poll.Eventually(t, "dead-lettered", 15*time.Second, func() bool { return len(deadLetters(t, e, "exhaust")) == 1 })
	dl := deadLetters(t, e, "exhaust")[0]
	checkDeadLetter(t, dl, id, "3", "target keeps failing")
	time.Sleep(300 * time.Millisecond)
	if n := rec.count(id); n != 3 {
		t.Errorf("handled %d times, want exactly MaxDeliver = 3", n)
	}
	if info := consumerInfo(t, e, "exhaust"); info.NumAckPending != 0 {
		t.Errorf("consumer has %d pending acks after the dead letter, want the message terminated", info.NumAckPending)
	}
}

func TestDeadLettersPermanentFailureAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := newRecorder()
	c := newConsumer(t, e, e.config("permanent"), func(_ context.Context, ev consume.Event) error {
		rec.record("a", ev)
		return consume.Permanent(errors.New("target says 400"))
	})
	run(t, c)
	id := e.publish(t, 1)[0]
	poll.Eventually(t, "dead-lettered", 15*time.Second, func() bool { return len(deadLetters(t, e, "permanent")) == 1 })
	checkDeadLetter(t, deadLetters(t, e, "permanent")[0], id, "1", "target says 400")
	if n := rec.count(id); n != 1 {
		t.Errorf("handled %d times, want 1", n)
	}
}

// TestDeadLettersUndecodableMessages also holds the dead letter of a message
// the handler never saw to its true count of deliveries: never 0.
func TestDeadLettersUndecodableMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		lost int // deliveries taken by a process that died without settling
		want string
	}{
		{"first delivery", 0, "1"},
		{"after a lost delivery", 1, "2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.config("undecodable")
			cfg.AckWait = time.Second
			rec := newRecorder()
			c := newConsumer(t, e, cfg, func(_ context.Context, ev consume.Event) error {
				rec.record("a", ev)
				return nil
			})
			if _, err := e.js.PublishMsg(context.Background(), &nats.Msg{Subject: "storylane.session.known", Data: []byte("not an event")}); err != nil {
				t.Fatal(err)
			}
			loseDeliveries(t, e, "undecodable", tc.lost)
			run(t, c)
			poll.Eventually(t, "dead-lettered", 15*time.Second, func() bool { return len(deadLetters(t, e, "undecodable")) == 1 })
			dl := deadLetters(t, e, "undecodable")[0]
			if string(dl.Data) != "not an event" {
				t.Errorf("dead letter data = %q, want the original %q", dl.Data, "not an event")
			}
			checkDeadLetter(t, dl, "", tc.want, "permanent")
			if rec.total() != 0 {
				t.Error("the handler saw a message that is not an event")
			}
		})
	}
}

// loseDeliveries has a process take n deliveries of the durable's first
// message and die without settling them.
func loseDeliveries(t *testing.T, e env, durable string, n int) {
	t.Helper()
	raw, err := e.js.Consumer(context.Background(), e.stream.Name, durable)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		// The ack wait must run out before the message is delivered again.
		batch, err := raw.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for range batch.Messages() {
			got++
		}
		if got != 1 {
			t.Fatalf("lost delivery %d: fetched %d messages, want 1", i+1, got)
		}
	}
}

// TestDeadLettersAnEventWhoseLastAttemptWasLost covers a process that died
// during an event's last attempt: the next delivery is beyond MaxDeliver and
// goes to the dead-letter subject instead of vanishing.
func TestDeadLettersAnEventWhoseLastAttemptWasLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("lost-attempt")
	cfg.MaxDeliver = 1
	cfg.AckWait = time.Second
	rec := newRecorder()
	c := newConsumer(t, e, cfg, func(_ context.Context, ev consume.Event) error {
		rec.record("a", ev)
		return nil
	})
	id := e.publish(t, 1)[0]
	// A process takes the one delivery and dies without settling it.
	raw, err := e.js.Consumer(context.Background(), e.stream.Name, "lost-attempt")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := raw.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() {
	}
	run(t, c)
	poll.Eventually(t, "dead-lettered", 15*time.Second, func() bool { return len(deadLetters(t, e, "lost-attempt")) == 1 })
	checkDeadLetter(t, deadLetters(t, e, "lost-attempt")[0], id, "1", "no attempts left")
	if rec.total() != 0 {
		t.Error("the handler ran for an event with no attempts left")
	}
}

func checkDeadLetter(t *testing.T, dl *jetstream.RawStreamMsg, id, attempts, reason string) {
	t.Helper()
	if got := dl.Header.Get("ce-id"); got != id {
		t.Errorf("dead letter ce-id = %q, want the original %q", got, id)
	}
	if got := dl.Header.Get(consume.DeadLetterAttemptsHeader); got != attempts {
		t.Errorf("dead letter attempts = %q, want %q", got, attempts)
	}
	if got := dl.Header.Get(consume.DeadLetterReasonHeader); !strings.Contains(got, reason) {
		t.Errorf("dead letter reason = %q, want it to mention %q", got, reason)
	}
	if got := dl.Header.Get(consume.DeadLetterSubjectHeader); got != "storylane.session.known" && got != "storylane.session.unknown" {
		t.Errorf("dead letter original subject = %q, want a session subject", got)
	}
	if _, err := strconv.ParseUint(dl.Header.Get(consume.DeadLetterSeqHeader), 10, 64); err != nil {
		t.Errorf("dead letter stream seq = %q, want a number", dl.Header.Get(consume.DeadLetterSeqHeader))
	}
	if dl.Header.Get(jetstream.MsgIDHeader) == id {
		t.Error("dead letter reuses the event's Nats-Msg-Id: JetStream would drop it as a duplicate")
	}
}

func zapNop() *zap.Logger { return zap.NewNop() }

func TestAsStoredHandsOverTheMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	got := map[string]consume.Event{}
	c, err := consume.New(context.Background(), e.js, e.config("as-stored"), func(_ context.Context, ev consume.Event) error {
		if ev.CloudEvent.Context != nil || ev.Session.ID != "" {
			return consume.Permanent(errors.New("decoded an event handed over as stored"))
		}
		mu.Lock()
		defer mu.Unlock()
		got[ev.ID()] = ev
		return nil
	}, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), consume.AsStored())
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	ids := e.publish(t, 10)
	stored := map[string]*jetstream.RawStreamMsg{}
	for _, m := range natstest.Messages(t, e.js, e.stream.Name) {
		stored[m.Header.Get("Nats-Msg-Id")] = m
	}
	poll.Eventually(t, "all 10 handled", 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 10
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		ev, m := got[id], stored[id]
		if m == nil || !bytes.Equal(ev.Data, m.Data) || ev.Subject != m.Subject || ev.StreamSeq != m.Sequence ||
			ev.Attempt != 1 || !reflect.DeepEqual(ev.Header, m.Header) {
			t.Errorf("event %s handed over as %+v, want the stored message %+v", id, ev, m)
		}
	}
	if n := len(deadLetters(t, e, "as-stored")); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
}

func TestEventID(t *testing.T) {
	t.Parallel()
	ce := event.New()
	ce.SetID("decoded")
	cases := []struct {
		name string
		e    consume.Event
		want string
	}{
		{"decoded", consume.Event{CloudEvent: ce, Header: nats.Header{"ce-id": {"header"}}}, "decoded"},
		{"as stored", consume.Event{Header: nats.Header{"ce-id": {"a%20b"}}}, "a b"},
		{"no id", consume.Event{Header: nats.Header{}}, ""},
	}
	for _, c := range cases {
		if got := c.e.ID(); got != c.want {
			t.Errorf("Event{%s}.ID() = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestStartSeqAndAskingForAllAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.publish(t, 5)
	rec := newRecorder()
	h := func(_ context.Context, ev consume.Event) error {
		rec.record("a", ev)
		return nil
	}
	cfg := e.config("from-three")
	cfg.StartSeq = 3
	stop := run(t, newConsumer(t, e, cfg, h))
	poll.Eventually(t, "events 3 to 5 handled", 15*time.Second, func() bool { return rec.total() == 3 })
	stop()
	for i, id := range ids {
		if got, want := rec.count(id), map[bool]int{true: 1, false: 0}[i >= 2]; got != want {
			t.Errorf("event %d handled %d times, want %d", i+1, got, want)
		}
	}
	// Asked for everything later, the durable keeps its start: no conflict,
	// and nothing before it comes again.
	cfg.StartSeq, cfg.DeliverAll = 0, true
	run(t, newConsumer(t, e, cfg, h))
	more := e.publish(t, 1)
	poll.Eventually(t, "the next event handled", 15*time.Second, func() bool { return rec.count(more[0]) == 1 })
	if rec.total() != 4 {
		t.Errorf("handled %d events, want 4", rec.total())
	}
}
