package e2e_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// startBridge runs a bridge process on port, connected to the cluster as
// the bridge user, keeping its stream on three replicas.
func (c *cluster) startBridge(t *testing.T, port int) *clitest.Process {
	t.Helper()
	env := append(c.userEnv("bridge"), "STORYLANE_WEBHOOK_SECRET="+secret, "STREAM_REPLICAS=3", "BRIDGE_PUBLISH_TIMEOUT=2s")
	p := clitest.StartProcess(t, binary("storylane-bridge"), env, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	p.Logs.Wait(t, "listening")
	return p
}

func ready(url string) int { return httpStatus(url + "/readyz") }

// TestClusterFailover is the fault-injection suite: a three-node cluster
// from deploy/nats, bridges keeping an R3 stream, and a paced load whose
// client retries whatever is not answered 2xx. Every scenario checks that
// each webhook got its 2xx in the end and that each acknowledged one is
// stored exactly once. The numbers go to the README's operations section;
// reproduce them with go test -run TestClusterFailover -v ./internal/e2e.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault-injection suite starts clusters; skipped with -short")
	}
	var mu sync.Mutex
	var reports []report
	add := func(r report) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, r)
	}
	t.Run("leader", func(t *testing.T) { add(leaderOrFollowerLoss(t, true)) })
	t.Run("follower", func(t *testing.T) { add(leaderOrFollowerLoss(t, false)) })
	t.Run("bridge", func(t *testing.T) { add(bridgeLoss(t)) })
	t.Run("two-bridges", func(t *testing.T) { add(twoBridges(t)) })
	t.Run("no-quorum", func(t *testing.T) { add(noQuorum(t)) })
	t.Run("consumers", func(t *testing.T) { add(consumersAcrossNodeLoss(t)) })
	t.Run("node-frozen", func(t *testing.T) { add(nodeFrozen(t)) })
	lines := []string{"| scenario | webhooks sent | 2xx answers | other answers | stored | duplicate answers | longest without a 2xx | 2xx while a node was down |",
		"| --- | --- | --- | --- | --- | --- | --- | --- |"}
	for _, r := range reports {
		lines = append(lines, r.String())
	}
	t.Logf("fault-injection results:\n%s", strings.Join(lines, "\n"))
}

// Scenarios 1 and 2: SIGKILL the stream's leader (or a follower) early in
// the load; keep it down until the other two store webhooks on their own
// (a new leader elected), then start it again and wait for it to catch up
// on what was stored without it.
func leaderOrFollowerLoss(t *testing.T, leader bool) report {
	c := startCluster(t)
	js := c.admin()
	port := freePorts(t, 1)[0]
	c.startBridge(t, port)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	l := newLoad(1000, 100, 0, url)
	var served <-chan int
	victim := -1
	l.run(t, func(started int) {
		if started == 100 {
			victim = c.leader(js)
			if !leader {
				victim = (victim + 1) % 3
			}
			served = c.failover(js, l, victim)
		}
	})
	down := <-served
	if down == 0 {
		t.Errorf("no webhook was stored while %s was down: the two others did not carry the stream", c.nodes[victim].name)
	}
	c.waitNode(victim)
	c.waitCaughtUp(js)
	name := "1. stream leader SIGKILLed mid-load, restarted, caught up"
	if !leader {
		name = "2. a follower SIGKILLed mid-load, restarted, caught up"
	}
	r := l.check(t, js, name)
	r.whileDown = down
	return r
}

// Scenario 3: SIGKILL the bridge mid-load and start it again.
func bridgeLoss(t *testing.T) report {
	c := startCluster(t)
	js := c.admin()
	port := freePorts(t, 1)[0]
	b := c.startBridge(t, port)
	l := newLoad(400, 100, 1000, fmt.Sprintf("http://127.0.0.1:%d", port))
	l.run(t, func(started int) {
		switch started {
		case 130:
			b.Signal(t, syscall.SIGKILL)
			b.Exit(t)
		case 200:
			b = c.startBridge(t, port)
		}
	})
	return l.check(t, js, "3. bridge SIGKILLed mid-load, restarted")
}

// Scenario 4: two bridge replicas, every webhook sent to both.
func twoBridges(t *testing.T) report {
	c := startCluster(t)
	js := c.admin()
	ports := freePorts(t, 2)
	for _, p := range ports {
		c.startBridge(t, p)
	}
	l := newLoad(400, 100, 2000, fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1]))
	l.run(t, nil)
	r := l.check(t, js, "4. two bridges, each webhook sent to both")
	for id, n := range l.acked {
		if n != 2 {
			t.Errorf("event %s acknowledged by %d bridges, want both", id, n)
		}
	}
	// At least one answer of each pair says duplicate; both may, when a
	// publish that timed out was stored and its retry found it.
	if r.duplicates < r.sent || r.duplicates > 2*r.sent || r.stored != r.sent {
		t.Errorf("two bridges: %d duplicate answers and %d stored for %d webhooks, want a duplicate in each pair and each stored once",
			r.duplicates, r.stored, r.sent)
	}
	return r
}

// Scenario 5: two of three nodes down, so the stream has no quorum: the
// bridge answers 503 and never 2xx, reports not ready, and recovers by
// itself when the nodes return.
func noQuorum(t *testing.T) report {
	c := startCluster(t)
	js := c.admin()
	port := freePorts(t, 1)[0]
	c.startBridge(t, port)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	l := newLoad(400, 100, 3000, url)
	var down []int
	var unready time.Time
	l.run(t, func(started int) {
		switch started {
		case 100:
			lead := c.leader(js)
			down = []int{lead, (lead + 1) % 3}
			for _, i := range down {
				c.kill(i)
			}
			poll.Eventually(t, "readyz to report 503 without quorum", 30*time.Second, func() bool { return ready(url) == http.StatusServiceUnavailable })
			unready = time.Now()
		case 250:
			// Webhooks now wait for their turn instead of being shed
			// at once, so the first 503 is a publish that timed out.
			poll.Eventually(t, "a webhook answered 503 while the stream had no quorum", 20*time.Second, func() bool {
				l.mu.Lock()
				defer l.mu.Unlock()
				return l.answers[http.StatusServiceUnavailable] > 0
			})
			l.mu.Lock()
			for _, s := range l.successes {
				if s.After(unready) {
					t.Errorf("a webhook was answered 2xx at %v, while the stream had no quorum (since %v)", s, unready)
				}
			}
			l.mu.Unlock()
			for _, i := range down {
				c.start(i)
			}
		}
	})
	poll.Eventually(t, "readyz to report 200 after quorum returned", 60*time.Second, func() bool { return ready(url) == http.StatusOK })
	c.waitCaughtUp(js)
	return l.check(t, js, "5. two nodes down (no quorum), then back")
}

// Scenario 6: lead-sync and session-archive, each as its least-privilege
// user, keep exactly-once results when the stream leader is lost.
func consumersAcrossNodeLoss(t *testing.T) report {
	c := startCluster(t)
	js := c.admin()
	port := freePorts(t, 1)[0]
	c.startBridge(t, port)
	target := &crm{attempts: map[string]int{}, accepted: map[string]int{}, types: map[string]string{}}
	srv := httptest.NewServer(target)
	defer srv.Close()
	archiveDir := filepath.Join(t.TempDir(), "archive")
	consumer := func(user string, args ...string) {
		env := append(c.userEnv(user), "CONSUMER_BACKOFF=100ms")
		p := clitest.StartProcess(t, binary(user), env, args...)
		p.Logs.Wait(t, "consuming")
	}
	consumer("lead-sync", "--target-url", srv.URL)
	consumer("session-archive", "--dir", archiveDir)

	l := newLoad(800, 100, 4000, fmt.Sprintf("http://127.0.0.1:%d", port))
	var served <-chan int
	victim := -1
	l.run(t, func(started int) {
		if started == 100 {
			victim = c.leader(js)
			served = c.failover(js, l, victim)
		}
	})
	down := <-served
	if down == 0 {
		t.Errorf("no webhook was stored while %s was down", c.nodes[victim].name)
	}
	c.waitNode(victim)
	c.waitCaughtUp(js)
	r := l.check(t, js, "6. lead-sync and session-archive across a leader loss")
	r.whileDown = down
	known := 0
	for _, id := range l.ids {
		if l.known[id] {
			known++
		}
	}
	poll.Eventually(t, "the archive to hold every webhook", 90*time.Second, func() bool { return len(archived(t, archiveDir)) == len(l.ids) })
	poll.Eventually(t, "the CRM to hold every known session", 90*time.Second, func() bool { return target.acceptedCount() == known })
	for id, n := range archived(t, archiveDir) {
		if n != 1 || l.acked[id] == 0 {
			t.Errorf("archive holds event %s %d times, want each acknowledged webhook once", id, n)
		}
	}
	target.mu.Lock()
	repeats := 0
	for id, n := range target.accepted {
		if !l.known[id] {
			t.Errorf("CRM received unknown session %s", id)
		}
		repeats += n - 1
	}
	target.mu.Unlock()
	t.Logf("consumers: archive %d events once each; CRM %d known sessions, %d repeated deliveries (the same Idempotency-Key again)", len(l.ids), known, repeats)
	return r
}
