package loadgen

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Target receives one payload and says how it went: an HTTP status (200
// for a direct publish that was acknowledged, 0 when no answer came), and,
// for anything but 2xx, an error saying why.
type Target interface {
	Send(ctx context.Context, body []byte) (status int, err error)
}

// Options shape a run. Every run is bounded: by Duration, and by Requests
// when it is set.
type Options struct {
	Mode        string  // "closed" or "open"
	Concurrency int     // closed: clients; open: the most requests in flight
	Rate        float64 // open: requests started per second
	Duration    time.Duration
	Requests    int
	Payloads    *Payloads
	Timeout     time.Duration // one request's limit
}

// Result is what a run measured.
type Result struct {
	Target      string        `json:"target"`
	Mode        string        `json:"mode"`
	Concurrency int           `json:"concurrency"`
	Rate        float64       `json:"rate,omitempty"`
	Requests    int64         `json:"requests"`
	Errors      int64         `json:"errors"` // not 2xx, or no answer
	ErrorRate   float64       `json:"error_rate"`
	Status      map[int]int64 `json:"status"` // answers by status; 0 is no answer
	// Failures are the failed requests by status and reason, the most
	// frequent first.
	Failures     []Failure          `json:"failures,omitempty"`
	Seconds      float64            `json:"seconds"`
	Throughput   float64            `json:"throughput"`
	LatencyMs    map[string]float64 `json:"latency_ms"`
	CPUMicrosPer float64            `json:"cpu_us_per_request,omitempty"`
	PeakRSSMiB   float64            `json:"peak_rss_mib,omitempty"`
	// GeneratorCPUMicrosPer is the load generator's own CPU time per
	// request, which a target on the same machine does not get.
	GeneratorCPUMicrosPer float64 `json:"generator_cpu_us_per_request,omitempty"`
	// Missed counts open-loop requests that were due before the run
	// ended but never started, every client being busy: a target that
	// keeps up misses none.
	Missed int64 `json:"missed,omitempty"`
}

// worker holds what one client measured.
type worker struct {
	hist     *hdrhistogram.Histogram
	status   map[int]int64
	failures map[failureKey]int64
	errors   int64
}

func newWorker() *worker {
	return &worker{hist: hdrhistogram.New(1, 60_000_000, 3), status: map[int]int64{}, failures: map[failureKey]int64{}}
}

func (w *worker) record(start time.Time, status int, err error) {
	w.hist.RecordValue(max(time.Since(start).Microseconds(), 1))
	w.status[status]++
	if err == nil && status/100 == 2 {
		return
	}
	w.errors++
	k := failureKey{status, reason(status, err)}
	if _, ok := w.failures[k]; !ok && len(w.failures) >= maxReasons {
		k.reason = "other"
	}
	w.failures[k]++
}

// Run drives t as o says, until the duration passes, the requests are sent
// or ctx ends, and returns the measurements.
func Run(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	workers := make([]*worker, o.Concurrency)
	for i := range workers {
		workers[i] = newWorker()
	}
	var next atomic.Int64
	claim := func() (int, bool) {
		n := int(next.Add(1))
		return n, o.Requests == 0 || n <= o.Requests
	}
	send := func(w *worker, rng *rand.Rand, i int, start time.Time) {
		body := o.Payloads.Body(i, rng)
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), o.Timeout)
		status, err := t.Send(rctx, body)
		rcancel()
		w.record(start, status, err)
	}
	began := time.Now()
	var wg sync.WaitGroup
	var missed int64
	if o.Mode == "open" {
		jobs := make(chan job, o.Concurrency)
		for _, w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
				for j := range jobs {
					send(w, rng, j.i, j.at) // latency from the intended start
				}
			})
		}
		missed = dispatch(ctx, jobs, o.Rate, o.Requests, claim)
	} else {
		for _, w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
				for ctx.Err() == nil {
					i, ok := claim()
					if !ok {
						return
					}
					send(w, rng, i, time.Now())
				}
			})
		}
	}
	wg.Wait()
	r := summarize(o, workers, time.Since(began))
	r.Missed = missed
	return r
}

type job struct {
	i  int
	at time.Time
}

// dispatch starts requests at their intended times; when every client is
// busy a request waits, and its wait counts in its latency. It returns how
// many were due when the run ended and never started.
func dispatch(ctx context.Context, jobs chan<- job, rate float64, limit int, claim func() (int, bool)) (missed int64) {
	defer close(jobs)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	n := 0
	end, bounded := ctx.Deadline()
	defer func() {
		// Due: the requests whose time came before now, and before the
		// run's end, which a busy machine's late timer may have passed.
		elapsed := time.Since(start)
		if bounded {
			elapsed = min(elapsed, end.Sub(start))
		}
		due := int((elapsed + interval - 1) / interval)
		if limit > 0 {
			due = min(due, limit)
		}
		missed = int64(max(due-n, 0))
	}()
	for ; ; n++ {
		at := start.Add(time.Duration(n) * interval)
		// Due after the run's end: not for this run, even when the
		// deadline's timer, on a busy machine, has not fired yet.
		if bounded && !at.Before(end) {
			return
		}
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		i, ok := claim()
		if !ok || ctx.Err() != nil {
			return
		}
		select {
		case jobs <- job{i, at}:
		case <-ctx.Done():
			return
		}
	}
}

func summarize(o Options, workers []*worker, took time.Duration) Result {
	all := hdrhistogram.New(1, 60_000_000, 3)
	r := Result{Mode: o.Mode, Concurrency: o.Concurrency, Status: map[int]int64{}, Seconds: took.Seconds()}
	if o.Mode == "open" {
		r.Rate = o.Rate
	}
	failures := map[failureKey]int64{}
	for _, w := range workers {
		all.Merge(w.hist)
		r.Errors += w.errors
		for s, n := range w.status {
			r.Status[s] += n
		}
		for k, n := range w.failures {
			failures[k] += n
		}
	}
	r.Failures = sortFailures(failures)
	r.Requests = all.TotalCount()
	if r.Requests > 0 {
		r.ErrorRate = float64(r.Errors) / float64(r.Requests)
	}
	r.Throughput = float64(r.Requests-r.Errors) / took.Seconds()
	ms := func(q float64) float64 { return float64(all.ValueAtQuantile(q)) / 1000 }
	r.LatencyMs = map[string]float64{"p50": ms(50), "p90": ms(90), "p99": ms(99), "p99.9": ms(99.9), "max": float64(all.Max()) / 1000}
	return r
}
