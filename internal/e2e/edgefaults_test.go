package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// runLoad sends l in the background for at most limit; the returned stop
// (also run at cleanup) ends it and waits for every answer.
func runLoad(t *testing.T, l *edgeLoad, limit time.Duration) (stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

// whenLinked measures, in the background, how long after since every
// edge's leaf link is up (60 s at most).
func whenLinked(since time.Time, edges ...*edgeProc) <-chan time.Duration {
	ch := make(chan time.Duration, 1)
	go func() {
		poll.Within(60*time.Second, func() bool {
			for _, e := range edges {
				if !e.linked() {
					return false
				}
			}
			return true
		})
		ch <- time.Since(since)
	}()
	return ch
}

func leafURL(p *natstest.Proxy) string {
	return "nats-leaf://" + strings.TrimPrefix(p.URL(), "nats://")
}

// TestEdgeFaults is issue 15's proof, with real processes: a hub
// nats-server, two bridges in edge mode each linked to it through a proxy
// of its own, the hub's stream made by storylane-hub. Webhooks flow to both
// edges throughout (one in ten to both) while the hub is SIGKILLed for
// 20 s and restarted on its store, then the leaf links are cut for 30 s,
// and during that cut edge a is SIGKILLed and restarted on its data dir.
// Every request is answered 2xx but those to edge a while it is down, the
// hub ends with every acknowledged webhook exactly once, and both edges
// empty. The times it logs are in docs/operations.md.
func TestEdgeFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub and two edges as processes for about 90 s; skipped with -short")
	}
	h := startHubProc(t)
	pa, pb := natstest.StartProxy(t, h.leafAddr()), natstest.StartProxy(t, h.leafAddr())
	a, b := newEdgeProc(t, "a", leafURL(pa)), newEdgeProc(t, "b", leafURL(pb))
	a.start()
	b.start()
	h.createStream("a", "b")
	ledger := startHubLedger(t, h.url())
	l := newEdgeLoad(40, 40*240, 0, a, b)
	stopLoad := runLoad(t, l, 4*time.Minute)
	time.Sleep(5 * time.Second)

	h.kill()
	time.Sleep(20 * time.Second)
	hubBack := time.Now()
	h.start()
	healthy := time.Since(hubBack)
	linked := whenLinked(hubBack, a, b)
	caughtUp, ok := ledger.waitHolds(l.ackedBefore(hubBack), hubBack, 60*time.Second)
	if !ok {
		t.Errorf("the hub, restarted, lacks %d webhooks acknowledged before it came back, after 60s", len(ledger.missing(l.ackedBefore(hubBack))))
	}
	t.Logf("hub SIGKILLed for 20 s: healthy %.1f s after its restart, both leaf links up %.1f s after it; held every webhook acknowledged before the restart %.1f s after it",
		healthy.Seconds(), (<-linked).Seconds(), caughtUp.Seconds())
	time.Sleep(5 * time.Second)

	cut := time.Now()
	pa.Cut()
	pb.Cut()
	time.Sleep(10 * time.Second)
	aDown := time.Now()
	a.kill()
	time.Sleep(time.Second) // a supervisor's restart delay
	toReady := a.start()
	aUp := time.Now()
	time.Sleep(time.Until(cut.Add(30 * time.Second)))
	linkBack := time.Now()
	pa.Restore()
	pb.Restore()
	linked = whenLinked(linkBack, a, b)
	caughtUp, ok = ledger.waitHolds(l.ackedBefore(linkBack), linkBack, 60*time.Second)
	if !ok {
		t.Errorf("the hub lacks %d webhooks acknowledged before the links came back, after 60s", len(ledger.missing(l.ackedBefore(linkBack))))
	}
	t.Logf("leaf links cut for 30 s, edge a SIGKILLed 10 s in and restarted 1 s later: ready %.1f s after its start (down %.1f s); "+
		"both links up %.1f s after the cut ended; the hub held every webhook acknowledged before then %.1f s after",
		toReady.Seconds(), aUp.Sub(aDown).Seconds(), (<-linked).Seconds(), caughtUp.Seconds())
	time.Sleep(5 * time.Second)
	stopLoad()

	held, empty := waitDrained(t, l, ledger, a, b)
	stored := checkHub(t, l, ledger, a, b)
	ok2xx, whileDown := 0, 0
	for _, r := range l.answered() {
		switch {
		case r.status/100 == 2:
			ok2xx++
		case r.edge == "a" && r.end.After(aDown) && r.start.Before(aUp):
			whileDown++
		default:
			t.Errorf("webhook %s, want 2xx", r)
		}
	}
	t.Logf("%d webhooks (%d requests): %d answered 2xx, %d to edge a while it was down or starting; hub holds %d events; "+
		"once the load stopped, the hub held every acknowledged webhook %.1f s later and both edges were empty %.1f s later",
		len(l.ids), len(l.requests), ok2xx, whileDown, stored, held.Seconds(), empty.Seconds())
	if whileDown == 0 {
		t.Errorf("no request reached edge a while it was down: the restart went unexercised")
	}
}

// TestEdgeFullRecoversByItself fills an edge whose hub is down: it answers
// 503 with Retry-After and reports not ready, never drops a webhook, and
// once the hub is back accepts again by itself, without a restart; the
// hub ends with every 2xx webhook exactly once.
func TestEdgeFullRecoversByItself(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub and an edge as processes; skipped with -short")
	}
	h := startHubProc(t)
	e := newEdgeProc(t, "full", "nats-leaf://"+h.leafAddr(), "--max-body", "4096", "--edge-max-bytes", "102400")
	e.start()
	h.createStream("full")
	ledger := startHubLedger(t, h.url())
	h.kill()
	l := newEdgeLoad(30, 30*120, 0, e)
	stopLoad := runLoad(t, l, 2*time.Minute)

	var full edgeRequest
	poll.Eventually(t, "a 503 from the full edge", 60*time.Second, func() bool {
		for _, r := range l.answered() {
			if r.status == http.StatusServiceUnavailable {
				full = r
				return true
			}
		}
		return false
	})
	if full.retryAfter == "" || full.errMsg != "event store full, retry later" {
		t.Errorf("the full edge answered %s, Retry-After %q; want 503 event store full with a Retry-After", full, full.retryAfter)
	}
	if got := ready(e.url()); got != http.StatusServiceUnavailable {
		t.Errorf("full edge's /readyz = %d, want 503", got)
	}
	time.Sleep(3 * time.Second)
	hubBack := time.Now()
	h.start()
	var again time.Time
	poll.Eventually(t, "a 2xx from the edge after the hub came back", 60*time.Second, func() bool {
		for _, r := range l.answered() {
			if r.status/100 == 2 && r.start.After(hubBack) {
				again = r.end
				return true
			}
		}
		return false
	})
	poll.Eventually(t, "the edge ready again", 30*time.Second, func() bool { return ready(e.url()) == http.StatusOK })
	time.Sleep(3 * time.Second)
	stopLoad()

	waitDrained(t, l, ledger, e)
	stored := checkHub(t, l, ledger, e)
	refused := 0
	for _, r := range l.answered() {
		switch {
		case r.status == http.StatusServiceUnavailable && r.errMsg == full.errMsg && r.retryAfter != "":
			refused++
		case r.status/100 != 2:
			t.Errorf("webhook %s, want 2xx or 503 event store full", r)
		}
	}
	t.Logf("%d webhooks: %d refused while full; the edge accepted again %.1f s after the hub's restart; hub holds %d events",
		len(l.ids), refused, again.Sub(hubBack).Seconds(), stored)
}
