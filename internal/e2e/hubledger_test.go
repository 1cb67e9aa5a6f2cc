package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// hubLedger reads the hub's stream as it grows, through hub restarts, and
// counts each event id it holds: what lets the test tell when the hub has
// caught up, while webhooks keep flowing.
type hubLedger struct {
	mu    sync.Mutex
	next  uint64         // the next stream sequence to read
	count map[string]int // messages per Nats-Msg-Id
	stop  func()
}

// startHubLedger follows the stream STORYLANE of the hub at url until the
// test ends.
func startHubLedger(t *testing.T, url string) *hubLedger {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	l := &hubLedger{next: 1, count: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var c jetstream.Consumer
		for ctx.Err() == nil {
			c = l.readNew(ctx, js, c)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	l.stop = func() { cancel(); <-done; nc.Close() }
	t.Cleanup(l.stop)
	return l
}

// readNew reads what the stream holds past l.next with the ordered
// consumer c, made anew when there is none or the last read failed (the
// hub restarted, say), and returns the consumer to read with next time.
func (l *hubLedger) readNew(ctx context.Context, js jetstream.JetStream, c jetstream.Consumer) jetstream.Consumer {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "STORYLANE")
	if err != nil {
		return nil
	}
	l.mu.Lock()
	next := l.next
	l.mu.Unlock()
	last := s.CachedInfo().State.LastSeq
	if last < next {
		return c
	}
	if c == nil {
		c, err = js.OrderedConsumer(ctx, "STORYLANE", jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next})
		if err != nil {
			return nil
		}
	}
	batch, err := c.Fetch(int(min(last-next+1, 1000)), jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return nil
	}
	got := 0
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		l.mu.Lock()
		if md.Sequence.Stream >= l.next {
			l.count[m.Headers().Get("Nats-Msg-Id")]++
			l.next = md.Sequence.Stream + 1
			got++
		}
		l.mu.Unlock()
	}
	if batch.Error() != nil || got == 0 {
		return nil
	}
	return c
}

// missing lists the ids of want the hub does not hold yet.
func (l *hubLedger) missing(want []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, id := range want {
		if l.count[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// waitHolds waits up to timeout for the hub to hold every id of want and
// returns how long that took from since; false when it never did.
func (l *hubLedger) waitHolds(want []string, since time.Time, timeout time.Duration) (time.Duration, bool) {
	ok := poll.Within(timeout, func() bool { return len(l.missing(want)) == 0 })
	return time.Since(since), ok
}

// counts is a copy of the messages per id read so far.
func (l *hubLedger) counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.count))
	for id, n := range l.count {
		out[id] = n
	}
	return out
}
