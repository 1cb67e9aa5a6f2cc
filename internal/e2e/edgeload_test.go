package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// edgeLoad sends signed webhooks at a steady pace to edges, each to one
// edge in turn and, with two edges, one in ten to both, as Storylane would
// through a load balancer that sometimes sends twice. It never retries:
// what it keeps is every answer.
type edgeLoad struct {
	edges  []*edgeProc
	rate   int // webhooks started per second
	max    int // bound on the webhooks sent
	offset int // first session number

	mu       sync.Mutex
	ids      []string
	sentTo   map[string][]string // id → edges it was sent to
	requests []edgeRequest
}

// edgeRequest is one request and its answer.
type edgeRequest struct {
	edge, id   string
	start, end time.Time
	status     int    // 0: no answer
	errMsg     string // the answer's error, if any
	retryAfter string
}

// unsure reports whether the request may have stored its webhook without
// saying so: no answer (the edge killed under it) or a publish that timed
// out, which the 503 contract leaves open.
func (r edgeRequest) unsure() bool {
	return r.status == 0 || (r.status == http.StatusServiceUnavailable && r.errMsg != "event store full, retry later")
}

func newEdgeLoad(rate, max, offset int, edges ...*edgeProc) *edgeLoad {
	return &edgeLoad{edges: edges, rate: rate, max: max, offset: offset, sentTo: map[string][]string{}}
}

// run sends until ctx ends or max webhooks were sent, then waits for every
// answer.
func (l *edgeLoad) run(ctx context.Context) {
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(l.rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	single := 0
	for i := 0; i < l.max; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		body := natstest.SessionBody(l.offset+i, i%3 == 0)
		id := cloudevent.ID(body)
		targets := l.edges
		if len(l.edges) > 1 && i%10 != 0 {
			targets = []*edgeProc{l.edges[single%len(l.edges)]}
			single++
		}
		l.mu.Lock()
		l.ids = append(l.ids, id)
		for _, e := range targets {
			l.sentTo[id] = append(l.sentTo[id], e.name)
		}
		l.mu.Unlock()
		for _, e := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.record(l.deliver(client, e, id, body))
			}()
		}
	}
}

func (l *edgeLoad) deliver(client *http.Client, e *edgeProc, id string, body []byte) edgeRequest {
	r := edgeRequest{edge: e.name, id: id, start: time.Now()}
	req, _ := http.NewRequest(http.MethodPost, e.url()+"/webhooks/storylane", bytes.NewReader(body))
	req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(secret)))
	res, err := client.Do(req)
	if err == nil {
		var answer struct{ Error string }
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		json.Unmarshal(b, &answer)
		r.status, r.errMsg, r.retryAfter = res.StatusCode, answer.Error, res.Header.Get("Retry-After")
	}
	r.end = time.Now()
	return r
}

func (l *edgeLoad) record(r edgeRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, r)
}

// ackedBefore lists the ids answered 2xx by some edge before t.
func (l *edgeLoad) ackedBefore(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, r := range l.requests {
		if r.status/100 == 2 && r.end.Before(t) && !seen[r.id] {
			seen[r.id] = true
			out = append(out, r.id)
		}
	}
	return out
}

// answered is a copy of every request answered so far.
func (l *edgeLoad) answered() []edgeRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]edgeRequest(nil), l.requests...)
}

// outcome sums up, per id, what the edges answered.
type outcome struct {
	acked  map[string][]string // id → edges that answered 2xx
	unsure map[string]bool     // ids some request may have stored unsaid
	sentTo map[string][]string
}

func (l *edgeLoad) outcome() outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := outcome{acked: map[string][]string{}, unsure: map[string]bool{}, sentTo: l.sentTo}
	for _, r := range l.requests {
		if r.status/100 == 2 {
			o.acked[r.id] = append(o.acked[r.id], r.edge)
		}
		if r.unsure() {
			o.unsure[r.id] = true
		}
	}
	return o
}

func (r edgeRequest) String() string {
	return fmt.Sprintf("%s to edge %s at %s: %d %q (%.0f ms)", r.id[:12], r.edge, r.start.Format("15:04:05.000"), r.status, r.errMsg,
		float64(r.end.Sub(r.start).Microseconds())/1000)
}
