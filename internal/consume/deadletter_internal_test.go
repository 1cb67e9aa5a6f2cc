package consume

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
)

// noMetadata is a message of the stream whose metadata cannot be read (as
// when its reply subject is not JetStream's); all else is the real message.
type noMetadata struct{ jetstream.Msg }

func (noMetadata) Metadata() (*jetstream.MsgMetadata, error) {
	return nil, errors.New("message metadata: invalid reply subject")
}

// TestDeadLettersWithoutMetadataKeepApart: two messages whose metadata
// cannot be read are dead-lettered under ids of their own, so neither is
// taken for a duplicate of the other; each dead-lettered again (a
// redelivery) keeps its id, so the stream still stores it once.
func TestDeadLettersWithoutMetadataKeepApart(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	stream := natstest.DefaultStream(t, js)
	for i := range 2 {
		natstest.Publish(t, js, stream, natstest.SessionBody(i, true))
	}
	cfg := Config{Stream: stream.Name, Subjects: stream.Subjects, Durable: "bare", FilterSubjects: []string{"storylane.session.>"}, DeliverAll: true,
		AckWait: 5 * time.Second, Backoff: []time.Duration{50 * time.Millisecond}}
	c, err := New(t.Context(), js, cfg, func(context.Context, Event) error { return nil }, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.consumer().Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for msg := range batch.Messages() {
		n++
		for range 2 {
			c.process(t.Context(), noMetadata{msg})
		}
	}
	if n != 2 {
		t.Fatalf("fetched %d messages, want 2", n)
	}
	s, err := js.Stream(t.Context(), stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	dlq := cfg.Subjects.DeadLetter(cfg.Durable)
	info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(dlq))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[dlq]; got != 2 {
		t.Fatalf("two messages without metadata, each dead-lettered twice, stored %d dead letters, want 2", got)
	}
	ids := map[string]bool{}
	for seq := uint64(3); seq <= 4; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		ids[m.Header.Get(jetstream.MsgIDHeader)] = true
	}
	if len(ids) != 2 {
		t.Errorf("dead letters without metadata have ids %v, want two different ones", ids)
	}
}
