package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// load sends signed webhooks at a steady pace, each to every bridge URL
// given, and retries every answer that is not 2xx until it is, within a
// bounded time: what Storylane-like senders do, measured.
type load struct {
	urls     func() []string // the bridges to send each webhook to
	count    int             // webhooks
	rate     int             // webhooks started per second
	offset   int             // first session number
	deadline time.Duration   // give up on a webhook after this

	mu        sync.Mutex
	ids       []string        // every webhook's event id, in order
	known     map[string]bool // ids of known sessions
	acked     map[string]int  // 2xx answers per id
	answers   map[int]int     // answers by status (0: no answer)
	dups      int             // 2xx answers saying duplicate
	successes []time.Time     // when each 2xx came
	sentAt    []time.Time     // when the webhook of each 2xx was first sent
	failed    []string        // ids never answered 2xx
}

func newLoad(count, rate, offset int, urls ...string) *load {
	return &load{urls: func() []string { return urls }, count: count, rate: rate, offset: offset, deadline: 90 * time.Second,
		known: map[string]bool{}, acked: map[string]int{}, answers: map[int]int{}}
}

// run sends all the webhooks and returns when each has its 2xx or its
// deadline passed. progress is told how many webhooks have started.
func (l *load) run(t *testing.T, progress func(started int)) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(l.rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	for i := range l.count {
		<-tick.C
		body := natstest.SessionBody(l.offset+i, (l.offset+i)%3 == 0)
		id := cloudevent.ID(body)
		s, _ := storylane.Parse(body)
		l.mu.Lock()
		l.ids = append(l.ids, id)
		l.known[id] = s.Known()
		l.mu.Unlock()
		for _, url := range l.urls() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.deliver(client, url, id, body)
			}()
		}
		if progress != nil {
			progress(i + 1)
		}
	}
	wg.Wait()
}

func (l *load) deliver(client *http.Client, url, id string, body []byte) {
	first := time.Now()
	give := first.Add(l.deadline)
	for time.Now().Before(give) {
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
		req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(secret)))
		status, dup := 0, false
		if res, err := client.Do(req); err == nil {
			var answer struct{ Duplicate bool }
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			json.Unmarshal(b, &answer)
			status, dup = res.StatusCode, answer.Duplicate
		}
		l.mu.Lock()
		l.answers[status]++
		if status/100 == 2 {
			l.acked[id]++
			l.successes = append(l.successes, time.Now())
			l.sentAt = append(l.sentAt, first)
			if dup {
				l.dups++
			}
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	l.mu.Lock()
	l.failed = append(l.failed, id)
	l.mu.Unlock()
}

// successesSince counts the 2xx answers after t.
func (l *load) successesSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.successes {
		if s.After(t) {
			n++
		}
	}
	return n
}

// firstStoredSentAfter is how long after t the first 2xx came for a
// webhook first sent after t, or false when none came: the time to
// recovery from a fault at t, which no answer already under way can
// shorten.
func (l *load) firstStoredSentAfter(t time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Duration
	found := false
	for i, sent := range l.sentAt {
		if d := l.successes[i].Sub(t); sent.After(t) && (!found || d < first) {
			first, found = d, true
		}
	}
	return first, found
}

// longestGap is the longest time without any 2xx while the load ran.
func (l *load) longestGap() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := append([]time.Time(nil), l.successes...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	var gap time.Duration
	for i := 1; i < len(s); i++ {
		gap = max(gap, s[i].Sub(s[i-1]))
	}
	return gap
}

// report is one scenario's numbers.
type report struct {
	scenario                          string
	sent, answered2xx, non2xx, stored int
	duplicates                        int
	unavailable                       time.Duration
	whileDown                         int // 2xx answers while a node was down; -1 when none was
}

func (r report) String() string {
	down := "—"
	if r.whileDown >= 0 {
		down = fmt.Sprint(r.whileDown)
	}
	return fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %.1f s | %s |", r.scenario, r.sent, r.answered2xx, r.non2xx, r.stored, r.duplicates, r.unavailable.Seconds(), down)
}

// check asserts what every scenario promises: each webhook got a 2xx in
// the end, and each acknowledged one is in the stream exactly once.
func (l *load) check(t *testing.T, js jetstream.JetStream, scenario string) report {
	t.Helper()
	gap := l.longestGap()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failed) > 0 {
		t.Errorf("%s: %d webhooks never got a 2xx, e.g. %s", scenario, len(l.failed), l.failed[0])
	}
	stored := map[string]int{}
	for _, m := range allMessages(t, js) {
		if id := m.Header.Get("Nats-Msg-Id"); id != "" {
			stored[id]++
		}
	}
	for id, n := range l.acked {
		if stored[id] != 1 {
			t.Errorf("%s: event %s answered 2xx %d times is stored %d times, want once", scenario, id, n, stored[id])
		}
	}
	r := report{scenario: scenario, sent: len(l.ids), stored: len(stored), duplicates: l.dups, unavailable: gap, whileDown: -1}
	for status, n := range l.answers {
		if status/100 == 2 {
			r.answered2xx += n
		} else {
			r.non2xx += n
		}
	}
	return r
}

// allMessages reads the whole stream.
func allMessages(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	info := streamInfo(t, js, "STORYLANE")
	s, err := js.Stream(context.Background(), "STORYLANE")
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		var m *jetstream.RawStreamMsg
		poll.Eventually(t, fmt.Sprintf("message %d", seq), 30*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var err error
			m, err = s.GetMsg(ctx, seq)
			return err == nil
		})
		out = append(out, m)
	}
	return out
}
