package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// waitDrained waits until the hub holds every acknowledged webhook and
// every edge reports an empty backlog, and returns how long each took: an
// edge deletes what the hub stored only once the hub's flow-control
// answer says so, a little later.
func waitDrained(t *testing.T, l *edgeLoad, ledger *hubLedger, edges ...*edgeProc) (held, empty time.Duration) {
	t.Helper()
	began := time.Now()
	acked := l.ackedBefore(time.Now().Add(time.Hour))
	held, ok := ledger.waitHolds(acked, began, 90*time.Second)
	if !ok {
		t.Errorf("the hub lacks %d acknowledged webhooks 90s after the load stopped", len(ledger.missing(acked)))
	}
	ok = poll.Within(90*time.Second, func() bool {
		for _, e := range edges {
			if n, ok := e.backlog(); !ok || n != 0 {
				return false
			}
		}
		return true
	})
	if !ok {
		for _, e := range edges {
			n, ok := e.backlog()
			t.Errorf("edge %s backlog 90s after the load stopped: %d (read: %v), want 0", e.name, n, ok)
		}
	}
	return held, time.Since(began)
}

// checkHub asserts exactly once: the hub holds every acknowledged webhook
// once, and nothing else but webhooks whose fate no answer told (the edge
// killed under the request); it says where each missing webhook is. It
// returns how many ids the hub holds.
func checkHub(t *testing.T, l *edgeLoad, ledger *hubLedger, edges ...*edgeProc) int {
	t.Helper()
	o := l.outcome()
	held := ledger.counts()
	var missing []string
	for id, by := range o.acked {
		switch n := held[id]; {
		case n == 0:
			missing = append(missing, id)
		case n > 1:
			t.Errorf("hub holds event %s %d times, want once (acknowledged by edges %v)", id, n, by)
		}
	}
	for id, n := range held {
		if len(o.acked[id]) > 0 {
			continue
		}
		switch {
		case len(o.sentTo[id]) == 0:
			t.Errorf("hub holds event %s %d times, never sent", id, n)
		case !o.unsure[id]:
			t.Errorf("hub holds event %s, which edges %v refused (no 2xx, no request left unanswered)", id, o.sentTo[id])
		case n > 1:
			t.Errorf("hub holds event %s %d times, want at most once (sent to %v, unanswered)", id, n, o.sentTo[id])
		}
	}
	if len(missing) > 0 {
		where := locate(t, edges)
		for _, id := range missing {
			t.Errorf("hub lacks event %s, acknowledged by edges %v: %s", id, o.acked[id], where(id))
		}
	}
	return len(held)
}

// locate reads each edge's stream and HUB consumer through its listener
// and returns a function saying where an event id is.
func locate(t *testing.T, edges []*edgeProc) func(id string) string {
	t.Helper()
	type edgeState struct {
		name     string
		seqOf    map[string]uint64
		consumer string
	}
	var states []edgeState
	for _, e := range edges {
		seqOf, consumer := edgeContents(e)
		states = append(states, edgeState{e.name, seqOf, consumer})
	}
	return func(id string) string {
		var out []string
		for _, s := range states {
			where := "not in its stream (forwarded and deleted, or never stored)"
			if seq, ok := s.seqOf[id]; ok {
				where = fmt.Sprintf("still in its stream at seq %d", seq)
			}
			out = append(out, fmt.Sprintf("edge %s: %s; %s", s.name, where, s.consumer))
		}
		return strings.Join(out, "; ")
	}
}

// edgeContents maps each event id in an edge's stream to its sequence and
// describes its HUB consumer's state; it reads at most 100 000 messages.
func edgeContents(e *edgeProc) (map[string]uint64, string) {
	seqOf := map[string]uint64{}
	nc, err := nats.Connect(e.natsURL())
	if err != nil {
		return seqOf, "edge unreachable: " + err.Error()
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, "STORYLANE")
	if err != nil {
		return seqOf, "stream info: " + err.Error()
	}
	st := s.CachedInfo().State
	for seq := st.FirstSeq; st.Msgs > 0 && seq <= st.LastSeq && seq < st.FirstSeq+100_000; seq++ {
		if m, err := s.GetMsg(ctx, seq); err == nil {
			seqOf[m.Header.Get("Nats-Msg-Id")] = seq
		}
	}
	c, err := s.Consumer(ctx, "HUB")
	if err != nil {
		return seqOf, "HUB consumer: " + err.Error()
	}
	ci := c.CachedInfo()
	return seqOf, fmt.Sprintf("stream seqs %d-%d, %d msgs; HUB delivered stream seq %d, ack floor %d, pending acks %d",
		st.FirstSeq, st.LastSeq, st.Msgs, ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumAckPending)
}
