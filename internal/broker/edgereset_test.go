package broker_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
)

// resetAnswer is what an edge answers a durable source's consumer reset.
type resetAnswer struct {
	Delivered struct {
		Stream uint64 `json:"stream_seq"`
	} `json:"delivered"`
	ResetSeq uint64 `json:"reset_seq"`
	Error    *struct {
		Description string `json:"description"`
	} `json:"error"`
}

// TestHubConsumerResetAnswersTheResetPoint holds the pinned nats-server to
// what edge mode's exactly-once rests on: the answer to a consumer reset
// says the consumer was reset to its ack floor, even while its delivery
// loop is busy. The hub's source takes the answer's delivered sequence as
// stored and acknowledges everything up to it by flow control; the edge's
// WorkQueue stream then deletes it. nats-server 2.15.2 took the answer
// after releasing the consumer's lock and reported what the loop delivered
// meanwhile (here, 25 answers of 60 in three runs were 1 to 1658 events past the reset point), which
// lost events after hub restarts (docs/edge-findings.md); 2.15.3 answers
// with the reset point.
func TestHubConsumerResetAnswersTheResetPoint(t *testing.T) {
	t.Parallel()
	e := natstest.StartEdge(t, "resets", natstest.StartHub(t))
	const backlog = 5000
	js, err := jetstream.New(e.NC, jetstream.WithPublishAsyncMaxPending(backlog))
	if err != nil {
		t.Fatal(err)
	}
	for i := range backlog {
		if _, err := js.PublishAsync("storylane.session.known", []byte(fmt.Sprintf(`{"id":"r-%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		t.Fatal("backlog not stored after 60s")
	}
	// A listener on the deliver subject that answers flow control without
	// acknowledging anything keeps the loop delivering, as the hub's
	// source does while it catches up.
	sub, err := e.NC.Subscribe(e.Stream.Edge.DeliverSubject, func(m *nats.Msg) {
		if m.Reply != "" && m.Header.Get("Status") == "100" {
			m.Respond(nil)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	subject := fmt.Sprintf("$JS.API.CONSUMER.RESET.%s.%s", e.Stream.Name, broker.HubConsumer)
	for i := range 20 {
		time.Sleep(20 * time.Millisecond)
		m, err := e.NC.Request(subject, nil, 5*time.Second)
		if err != nil {
			t.Fatalf("reset %d: %v", i, err)
		}
		var a resetAnswer
		if err := json.Unmarshal(m.Data, &a); err != nil || a.Error != nil {
			t.Fatalf("reset %d answered %s (%v)", i, m.Data, err)
		}
		if a.ResetSeq != 1 || a.Delivered.Stream != a.ResetSeq-1 {
			t.Errorf("reset %d answered reset_seq %d, delivered stream_seq %d, want 1 and 0: nothing is acknowledged, and the hub "+
				"would take every event up to the delivered sequence as stored", i, a.ResetSeq, a.Delivered.Stream)
		}
	}
}
