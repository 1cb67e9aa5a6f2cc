package e2e_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// The frozen-node scenario's bounds: how long the node stays frozen, and
// how soon after the freeze webhooks must be stored again.
const (
	freezeFor     = 60 * time.Second
	recoverWithin = 30 * time.Second
)

// Scenario 7: the node the bridge is connected to, made the stream's
// leader too, freezes (SIGSTOP: no TCP reset, as with a host powered off
// or cut off by the network) for a minute, then resumes. Only the bridge's
// pings can tell that it is gone; webhooks must be stored again, through
// another node under a newly elected leader, within 30 s of the freeze,
// /readyz must answer within its 2 s bound (plus a second) throughout, and
// the node must catch up once resumed.
func nodeFrozen(t *testing.T) report {
	c := startCluster(t)
	js := c.admin()
	port := freePorts(t, 1)[0]
	c.startBridge(t, port)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	victim := c.bridgeNode()
	c.makeLeader(js, victim)

	// 50 a second for 70 s: from 2 s before the freeze to 8 s after it ends.
	l := newLoad(3500, 50, 5000, url)
	var f *frozen
	var probe *readyProbe
	l.run(t, func(started int) {
		if started == 100 {
			f = c.freeze(victim, freezeFor)
			probe = probeReady(url, f)
		}
	})
	<-f.resumed
	<-probe.done

	recovered, ok := l.firstStoredSentAfter(f.at)
	switch {
	case !ok:
		t.Errorf("no webhook sent after the freeze of %s was ever stored", c.nodes[victim].name)
	case recovered > recoverWithin:
		t.Errorf("webhooks stored again %v after the freeze of %s, want within %v", recovered.Round(100*time.Millisecond), c.nodes[victim].name, recoverWithin)
	}
	probe.check(t)
	c.waitNode(victim)
	c.waitCaughtUp(js)
	r := l.check(t, js, fmt.Sprintf("7. the bridge's node, leading the stream, frozen (SIGSTOP) for %.0f s, then resumed", freezeFor.Seconds()))
	r.whileDown = l.successesSince(f.at) - l.successesSince(f.resumedAt)
	t.Logf("node frozen: webhooks stored again %.1f s after the freeze; /readyz answered within %.1f s at most, 200 again %.1f s after the freeze",
		recovered.Seconds(), probe.slowest.Seconds(), probe.readyAgain.Seconds())
	return r
}

// bridgeNode is the index of the node the bridge is connected to, from the
// nodes' monitoring endpoints.
func (c *cluster) bridgeNode() int {
	c.t.Helper()
	found := -1
	poll.Eventually(c.t, "the bridge's connection on a node", 10*time.Second, func() bool {
		for i, n := range c.nodes {
			var connz struct {
				Connections []struct{ Name string } `json:"connections"`
			}
			res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/connz?limit=1024", n.monit))
			if err != nil {
				continue
			}
			err = json.NewDecoder(res.Body).Decode(&connz)
			res.Body.Close()
			for _, conn := range connz.Connections {
				if err == nil && conn.Name == "storylane-bridge" {
					found = i
					return true
				}
			}
		}
		return false
	})
	return found
}

// makeLeader asks the stream's leader to step down in favour of node i
// until i leads the stream.
func (c *cluster) makeLeader(js jetstream.JetStream, i int) {
	c.t.Helper()
	req := fmt.Appendf(nil, `{"placement":{"preferred":%q}}`, c.nodes[i].name)
	for deadline := time.Now().Add(60 * time.Second); c.leader(js) != i; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s does not lead the stream after 60 s of step-down requests", c.nodes[i].name)
		}
		// The answer does not matter: the loop checks the leader.
		js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN.STORYLANE", req, 2*time.Second)
	}
}

// frozen is a node stopped with SIGSTOP: when, and when it was resumed.
type frozen struct {
	at        time.Time
	resumed   chan struct{} // closed once resumedAt is set
	resumedAt time.Time
}

// freeze stops node i with SIGSTOP now and resumes it with SIGCONT after
// d. The test's cleanup resumes it in any case, before the process's own
// cleanup kills it.
func (c *cluster) freeze(i int, d time.Duration) *frozen {
	c.t.Helper()
	p := c.nodes[i].proc
	p.Signal(c.t, syscall.SIGSTOP)
	f := &frozen{at: time.Now(), resumed: make(chan struct{})}
	var once sync.Once
	resume := func() {
		once.Do(func() {
			p.Cmd.Process.Signal(syscall.SIGCONT) // an error: it is gone already
			f.resumedAt = time.Now()
			close(f.resumed)
		})
	}
	timer := time.AfterFunc(d, resume)
	c.t.Cleanup(func() {
		timer.Stop()
		resume()
	})
	return f
}

// readyProbe asks a bridge's /readyz every 250 ms while a node is frozen,
// and keeps how long the slowest answer took and when it said 200 again.
type readyProbe struct {
	done chan struct{}

	mu         sync.Mutex
	slowest    time.Duration
	answers    map[int]int   // by status; 0: no answer
	readyAgain time.Duration // after the freeze, the first 200 after a 503; 0 if none
	lastErr    error         // of the last probe without an answer
}

func probeReady(url string, f *frozen) *readyProbe {
	p := &readyProbe{done: make(chan struct{}), answers: map[int]int{}}
	// From an address of its own, as an orchestrator's probe comes: the
	// load's retries from 127.0.0.1 fill that address's connection quota.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
	go func() {
		defer client.CloseIdleConnections()
		defer close(p.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-f.resumed:
				return
			case <-tick.C:
			}
			start := time.Now()
			status := 0
			res, err := client.Get(url + "/readyz")
			if err == nil {
				res.Body.Close()
				status = res.StatusCode
			}
			p.record(status, err, time.Since(start), start.Sub(f.at))
		}
	}()
	return p
}

func (p *readyProbe) record(status int, err error, took, sinceFreeze time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.lastErr = err
	}
	p.slowest = max(p.slowest, took)
	p.answers[status]++
	if status == http.StatusOK && p.answers[http.StatusServiceUnavailable] > 0 && p.readyAgain == 0 {
		p.readyAgain = sinceFreeze
	}
}

// check asserts that /readyz always answered within its bound, said 503
// while the bridge had no usable node, and 200 again once it had one,
// while the node was still frozen.
func (p *readyProbe) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slowest > 3*time.Second || p.answers[0] > 0 {
		t.Errorf("/readyz during the freeze: slowest answer %v, %d without an answer (%v), want each within 2 s + 1 s", p.slowest, p.answers[0], p.lastErr)
	}
	if p.answers[http.StatusServiceUnavailable] == 0 || p.readyAgain == 0 {
		t.Errorf("/readyz during the freeze answered %v, want 503 while the bridge was on the frozen node and 200 once it left it", p.answers)
	}
}
