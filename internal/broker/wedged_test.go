package broker_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// publishAll publishes n messages of size bytes at once, each with its own
// deadline of timeout, and returns how long the slowest call took and how
// many succeeded.
func publishAll(p *broker.Publisher, n, size int, timeout time.Duration) (time.Duration, int) {
	var mu sync.Mutex
	var slowest time.Duration
	ok := 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			msg := &nats.Msg{Subject: "storylane.session.known", Data: make([]byte, size),
				Header: nats.Header{jetstream.MsgIDHeader: {fmt.Sprintf("wedged-%d-%d", size, i)}}}
			c, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			_, err := p.Publish(c, msg)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			if err == nil {
				ok++
			}
		})
	}
	wg.Wait()
	return slowest, ok
}

// TestPublishAndReadyHonourTheirDeadlineOnAWedgedConnection freezes the
// server's side of the connection and fills the socket with large
// messages, so that a write blocks holding the connection's lock, for a
// minute here (the write timeout). Every Publish and Ready must still
// return within its deadline, plus a second; the goroutines they leave
// behind must be bounded, not one per call; and once the path thaws,
// publishing works again.
func TestPublishAndReadyHonourTheirDeadlineOnAWedgedConnection(t *testing.T) {
	t.Parallel()
	f := connectThroughProxies(t, broker.ConnConfig{PingInterval: time.Hour, MaxPingsOut: 100, WriteTimeout: time.Minute})
	js, err := jetstream.New(f.nc, jetstream.WithPublishAsyncTimeout(time.Second), jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broker.EnsureStream(ctx(t), js, streamConfig()); err != nil {
		t.Fatal(err)
	}
	p := broker.NewPublisher(js, "STORYLANE")
	if _, ok := publishAll(p, 1, 10, 5*time.Second); ok != 1 {
		t.Fatal("Publish before the freeze failed")
	}
	frozen := f.freeze(t)

	// 48 × 512 KiB: more than the socket buffers of both ends hold.
	const timeout = time.Second
	slowest, _ := publishAll(p, 48, 512<<10, timeout)
	if slowest > timeout+time.Second {
		t.Errorf("Publish on a wedged connection took up to %v, want at most %v + 1s", slowest, timeout)
	}
	readyStart := time.Now()
	rc, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err = p.Ready(rc)
	cancel()
	if took := time.Since(readyStart); err == nil || took > 3*time.Second {
		t.Errorf("Ready() on a wedged connection = %v after %v, want an error within 2s + 1s", err, took)
	}

	// Many more calls while it stays wedged: each ends at its deadline,
	// and what they leave behind does not grow with their number.
	slowest, _ = publishAll(p, 300, 1<<10, 50*time.Millisecond)
	for range 20 {
		rc, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		p.Ready(rc)
		cancel()
	}
	if slowest > 50*time.Millisecond+time.Second {
		t.Errorf("Publish on a wedged connection took up to %v, want at most 50ms + 1s", slowest)
	}
	if n := publisherGoroutines(); n > 64+1 {
		t.Errorf("%d goroutines of the publisher's after 348 publishes and 21 readiness checks on a wedged connection, want them bounded (64 hand-offs, 1 check)", n)
	}
	// Not asked of the connection, whose lock the blocked write holds.
	for _, px := range f.proxies {
		if px.URL() != frozen && px.Conns() > 0 {
			t.Fatal("the client left the frozen path: the test no longer holds a wedged connection")
		}
	}

	for _, px := range f.proxies {
		px.Thaw()
	}
	var ok int
	for deadline := time.Now().Add(20 * time.Second); ok == 0 && time.Now().Before(deadline); {
		_, ok = publishAll(p, 1, 10, 2*time.Second)
	}
	if ok == 0 {
		t.Error("Publish after the thaw kept failing, want it to recover")
	}
}

// publisherGoroutines counts the goroutines the Publisher started that are
// still running: the process's total would count other tests' too.
func publisherGoroutines() int {
	buf := make([]byte, 16<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "created by github.com/storylane-bridge/storylane-bridge/internal/broker.(*Publisher).") {
			n++
		}
	}
	return n
}
