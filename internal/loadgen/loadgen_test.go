package loadgen_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/loadgen"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func TestPayloads(t *testing.T) {
	t.Parallel()
	r, err := storylane.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		size  int
		ratio float64
	}{{300, 0}, {1000, 1}, {4000, 0.3}} {
		p := loadgen.NewPayloads("run", tt.size, tt.ratio)
		rng := rand.New(rand.NewPCG(1, 2))
		ids := map[string]bool{}
		known := 0
		for i := range 200 {
			b := p.Body(i, rng)
			if _, err := r.Read(b); err != nil {
				t.Fatalf("Body(%d) of size %d = %s, not valid: %v", i, tt.size, b, err)
			}
			if d := len(b) - tt.size; tt.size >= 1000 && (d < -50 || d > 50) {
				t.Errorf("len(Body(%d)) = %d, want about %d", i, len(b), tt.size)
			}
			s, err := storylane.Parse(b)
			if err != nil {
				t.Fatalf("Parse(Body(%d)) = %v, want a session", i, err)
			}
			if ids[s.ID] {
				t.Fatalf("Body(%d) has id %s, want one no earlier body has", i, s.ID)
			}
			ids[s.ID] = true
			if s.Known() {
				known++
			}
		}
		if got := float64(known) / 200; got < tt.ratio-0.15 || got > tt.ratio+0.15 {
			t.Errorf("NewPayloads(known ratio %.1f) made %.2f known, want about %.1f", tt.ratio, got, tt.ratio)
		}
	}
}

// stall is a target that takes a fixed time per request.
type stall struct {
	took time.Duration
	sent atomic.Int64
}

func (s *stall) Send(ctx context.Context, body []byte) (int, error) {
	s.sent.Add(1)
	time.Sleep(s.took)
	return 200, nil
}

func TestClosedLoopStopsAtRequests(t *testing.T) {
	t.Parallel()
	target := &stall{took: time.Millisecond}
	r := loadgen.Run(context.Background(), target, loadgen.Options{Mode: "closed", Concurrency: 4, Duration: time.Minute, Requests: 50,
		Payloads: loadgen.NewPayloads("t", 300, 0.5), Timeout: time.Second})
	if r.Requests != 50 || target.sent.Load() != 50 || r.Errors != 0 || r.Status[200] != 50 || r.Missed != 0 {
		t.Errorf("Run(closed, 50 requests) = %d requests, %d sent, %d errors, statuses %v; want 50, 50, 0", r.Requests, target.sent.Load(), r.Errors, r.Status)
	}
	if r.LatencyMs["p50"] < 1 {
		t.Errorf("Run p50 = %.2f ms, want at least the target's 1 ms", r.LatencyMs["p50"])
	}
}

// A target slower than the arrival rate makes requests wait: open loop
// counts the wait in their latency, as a user would see it.
func TestOpenLoopCountsQueueing(t *testing.T) {
	t.Parallel()
	target := &stall{took: 20 * time.Millisecond}
	r := loadgen.Run(context.Background(), target, loadgen.Options{Mode: "open", Concurrency: 1, Rate: 200, Duration: 500 * time.Millisecond,
		Payloads: loadgen.NewPayloads("t", 300, 0.5), Timeout: time.Second})
	// One request in flight at 20 ms each: about 25 are sent, while the
	// schedule asked for 100; the last waited for most of the run.
	if r.Requests < 5 || r.Requests > 40 {
		t.Fatalf("Run(open) sent %d requests, want about 25", r.Requests)
	}
	if r.LatencyMs["max"] < 200 {
		t.Errorf("Run(open) max latency = %.1f ms, want the queueing (hundreds of ms) counted", r.LatencyMs["max"])
	}
	// And what never started is counted too: 100 were due in all.
	if total := r.Requests + r.Missed; total < 95 || total > 101 {
		t.Errorf("Run(open) = %d sent + %d missed, want about the 100 scheduled", r.Requests, r.Missed)
	}
}

func TestProcessMeasuresItself(t *testing.T) {
	t.Parallel()
	p := loadgen.NewProcess(os.Getpid())
	if err := p.ResetPeak(); err != nil {
		t.Skipf("clear_refs not writable here: %v", err)
	}
	before, err := p.CPUSeconds()
	if err != nil {
		t.Fatalf("CPUSeconds() = %v", err)
	}
	// Busy until the CPU time moves on (it counts in 10 ms ticks), within
	// a bound.
	after := before
	for deadline := time.Now().Add(5 * time.Second); after <= before && time.Now().Before(deadline); {
		for range 1_000_000 {
			_ = make([]byte, 8)
		}
		after, _ = p.CPUSeconds()
	}
	if after <= before {
		t.Errorf("CPUSeconds() = %.2f after 5 s of work, want more than %.2f", after, before)
	}
	if rss, err := p.PeakRSSMiB(); err != nil || rss <= 0 {
		t.Errorf("PeakRSSMiB() = %.1f, %v, want a positive size", rss, err)
	}
}

// Get fetches its URL as it is: no body, no signature, the whole answer
// read, and a refusal counted with its reason.
func TestGet(t *testing.T) {
	t.Parallel()
	var gets, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodGet || len(body) > 0 || r.Header.Get(storylane.SignatureHeader) != "" || r.URL.Path != "/api/overview" {
			bad.Add(1)
		}
		if gets.Add(1)%5 == 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(strings.Repeat("x", 64<<10)))
	}))
	t.Cleanup(srv.Close)
	target := loadgen.NewGet(srv.URL+"/api/overview", 2)
	t.Cleanup(target.Close)
	r := loadgen.Run(context.Background(), target, loadgen.Options{Mode: "closed", Concurrency: 2, Duration: time.Minute, Requests: 20,
		Payloads: loadgen.NewPayloads("t", 300, 0.5), Timeout: time.Second})
	if r.Requests != 20 || r.Status[200] != 16 || r.Status[503] != 4 || bad.Load() != 0 {
		t.Errorf("Run(Get, 20 requests) = %d requests, statuses %v, %d not a bare GET of the path; want 20, 16×200 and 4×503, 0", r.Requests, r.Status, bad.Load())
	}
	want := []loadgen.Failure{{Status: 503, Reason: "Service Unavailable", Count: 4}}
	if !reflect.DeepEqual(r.Failures, want) {
		t.Errorf("Run(Get) failures = %+v, want %+v", r.Failures, want)
	}
}
