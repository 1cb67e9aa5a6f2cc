package consume_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// outcomes reads storylane_consumer_events_total of one consumer and outcome.
func outcomes(t *testing.T, reg *prometheus.Registry, durable, outcome string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "storylane_consumer_events_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["consumer"] == durable && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// handled records the events a handler saw, with their data.
type handled struct {
	mu   sync.Mutex
	data map[string][]string // event id → data of each call
}

func (h *handled) handler(_ context.Context, ev consume.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.data == nil {
		h.data = map[string][]string{}
	}
	h.data[ev.ID()] = append(h.data[ev.ID()], string(ev.Data))
	return nil
}

func (h *handled) snapshot() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]string{}
	for k, v := range h.data {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func copyHeader(h nats.Header) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// TestRedriveRefusesForgedDeadLetters: anyone who may publish on the
// dead-letter subjects (the embedded broker's readers) could forge a dead
// letter; a re-drive hands over only those whose original, still in the
// stream on the re-driven durable's subjects, carries the same message.
func TestRedriveRefusesForgedDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("forged")
	cfg.FilterSubjects = []string{e.stream.Subjects.Session(true)}
	stop := run(t, newConsumer(t, e, cfg, func(context.Context, consume.Event) error {
		return consume.Permanent(errors.New("target down"))
	}))
	genuine := natstest.Publish(t, e.js, e.stream, natstest.SessionBody(1, true))
	agedOut := natstest.Publish(t, e.js, e.stream, natstest.SessionBody(3, true))
	natstest.Publish(t, e.js, e.stream, natstest.SessionBody(2, false))
	poll.Eventually(t, "2 dead letters", 15*time.Second, func() bool { return len(deadLetters(t, e, "forged")) == 2 })
	stop()

	byID := map[string]*jetstream.RawStreamMsg{}
	var unknown *jetstream.RawStreamMsg
	for _, m := range natstest.Messages(t, e.js, e.stream.Name) {
		byID[m.Header.Get("ce-id")+" "+m.Subject] = m
		if m.Subject == e.stream.Subjects.Session(false) {
			unknown = m
		}
	}
	dlq := e.stream.Subjects.DeadLetter("forged")
	genuineDL, agedOutDL := byID[genuine+" "+dlq], byID[agedOut+" "+dlq]
	// forge copies a message's headers onto a dead letter naming seq:
	// "" keeps the name the headers have, "-" names none.
	forge := func(h nats.Header, data []byte, seq string) *nats.Msg {
		m := &nats.Msg{Subject: dlq, Header: copyHeader(h), Data: data}
		switch seq {
		case "":
		case "-":
			m.Header.Del(consume.DeadLetterSeqHeader)
		default:
			m.Header.Set(consume.DeadLetterSeqHeader, seq)
		}
		return m
	}
	otherType := forge(genuineDL.Header, genuineDL.Data, "")
	otherType.Header.Set("ce-type", "storylane.session.forged")
	otherType.Header.Set("ce-id", "forged-other-headers")
	forgeries := map[string]*nats.Msg{
		"no original":             forge(genuineDL.Header, natstest.SessionBody(5, true), "1000000"),
		"no original named":       forge(genuineDL.Header, natstest.SessionBody(7, true), "-"),
		"other data":              forge(genuineDL.Header, natstest.SessionBody(9, true), ""),
		"other headers":           otherType,
		"original not this one's": forge(unknown.Header, unknown.Data, strconv.FormatUint(unknown.Sequence, 10)),
	}
	for name, m := range forgeries {
		m.Header.Set(jetstream.MsgIDHeader, "forged:"+name)
		if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatalf("publish forgery %q: %v", name, err)
		}
	}
	// The original of a dead letter gone from the stream, as max age does.
	agedSeq, err := strconv.ParseUint(agedOutDL.Header.Get(consume.DeadLetterSeqHeader), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.js.Stream(context.Background(), e.stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(context.Background(), agedSeq); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	var h handled
	r, err := consume.Redrive(context.Background(), e.js, cfg, h.handler, zapNop(), consume.WithMetrics(consume.NewMetrics(reg)))
	if err != nil {
		t.Fatal(err)
	}
	runToEnd(t, r, 30*time.Second)
	got := h.snapshot()
	if len(got) != 1 || len(got[genuine]) != 1 || got[genuine][0] != string(genuineDL.Data) {
		t.Errorf("re-drive handed over %v, want only the genuine dead letter %s, once, with its data", got, genuine)
	}
	if n := outcomes(t, reg, "forged-redrive", "refused"); n != float64(len(forgeries)+1) {
		t.Errorf("refused = %v, want the %d forgeries and the dead letter whose original is gone", n, len(forgeries))
	}
	si, err := s.Info(context.Background(), jetstream.WithSubjectFilter(dlq))
	if err != nil {
		t.Fatal(err)
	}
	if n := si.State.Subjects[dlq]; n != uint64(2+len(forgeries)) {
		t.Errorf("%d dead letters after the re-drive, want %d: a refusal stores none", n, 2+len(forgeries))
	}
	if info := consumerInfo(t, e, "forged-redrive"); info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("re-drive durable: %d unacknowledged, %d pending, want every dead letter settled", info.NumAckPending, info.NumPending)
	}
}

// TestRefusesSubjectsOutsideTheFilter: a durable re-pointed by someone
// else (the embedded broker's readers may update any durable) must not
// feed its handler subjects it was never meant to read.
func TestRefusesSubjectsOutsideTheFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("repointed")
	cfg.FilterSubjects = []string{e.stream.Subjects.Session(true)}
	reg := prometheus.NewRegistry()
	var h handled
	c, err := consume.New(context.Background(), e.js, cfg, h.handler, zapNop(), consume.WithMetrics(consume.NewMetrics(reg)))
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	known := natstest.Publish(t, e.js, e.stream, natstest.SessionBody(1, true))
	poll.Eventually(t, "the known session handled", 15*time.Second, func() bool { return len(h.snapshot()[known]) == 1 })

	info := consumerInfo(t, e, "repointed")
	repointed := info.Config
	repointed.FilterSubject, repointed.FilterSubjects = e.stream.Subjects.All(), nil
	if _, err := e.js.UpdateConsumer(context.Background(), e.stream.Name, repointed); err != nil {
		t.Fatal(err)
	}
	unknown := natstest.Publish(t, e.js, e.stream, natstest.SessionBody(2, false))
	known2 := natstest.Publish(t, e.js, e.stream, natstest.SessionBody(3, true))
	poll.Eventually(t, "the next known session handled", 15*time.Second, func() bool { return len(h.snapshot()[known2]) == 1 })
	poll.Eventually(t, "the unknown session counted as refused", 15*time.Second, func() bool { return outcomes(t, reg, "repointed", "refused") == 1 })
	if got := h.snapshot(); len(got[unknown]) != 0 {
		t.Errorf("handler saw %s on %s, outside the filter %v", unknown, e.stream.Subjects.Session(false), cfg.FilterSubjects)
	}
	if info := consumerInfo(t, e, "repointed"); info.NumAckPending != 0 {
		t.Errorf("%d unacknowledged after the refusal, want 0: a refused message is terminated", info.NumAckPending)
	}
}
