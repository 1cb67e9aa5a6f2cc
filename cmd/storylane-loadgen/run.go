package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/keyring"
	"github.com/storylane-bridge/storylane-bridge/internal/loadgen"
)

const synopsis = `Sends signed Storylane webhooks, each a fresh session (about --payload-bytes,
a --known-ratio of them known), to a bridge and measures it. --mode closed keeps
--concurrency clients busy as fast as answers come; --mode open starts --rate
requests a second with at most --concurrency in flight, and measures latency
from each request's intended start, so a stall is not hidden. A run ends after
--duration or --requests. --method GET fetches --url as it is instead (no body,
no signature): a dashboard or an API under the same loads. --direct then publishes the same events straight to
JetStream (the --nats-* flags) with the same concurrency, waiting for each
acknowledgement, and prints the bridge's throughput as a share of it. --pid
measures a local process's CPU time per request and peak memory. Failed
requests are listed by status and reason; the run exits 1 when more than
--max-error-rate of them failed (by default, when any did).`

type config struct {
	url, mode, method, jsonOut, secretFile, label string
	concurrency, requests, payload                int
	rate, knownRatio, maxErrorRate                float64
	duration, timeout                             time.Duration
	direct                                        bool
	pid                                           int
	nats                                          broker.ConnConfig
	stream                                        string
	subjects                                      broker.Subjects
}

func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	f := cli.NewFlagSet("storylane-loadgen", synopsis, stdout)
	f.StringVar(&c.url, "url", "BRIDGE_URL", "http://127.0.0.1:8080/webhooks/storylane", "webhook `URL` of the bridge; empty for --direct only")
	f.StringVar(&c.method, "method", "LOADGEN_METHOD", "POST", "POST (signed webhooks) or GET (--url as it is: a page or an API)")
	f.StringVar(&c.mode, "mode", "LOADGEN_MODE", "closed", "closed (fixed concurrency) or open (fixed arrival rate)")
	f.IntVar(&c.concurrency, "concurrency", "LOADGEN_CONCURRENCY", 32, "clients (closed), or the most requests in flight (open)")
	f.Float64Var(&c.rate, "rate", "LOADGEN_RATE", 1000, "open loop: requests started per second")
	f.DurationVar(&c.duration, "duration", "LOADGEN_DURATION", 10*time.Second, "how long a run lasts")
	f.IntVar(&c.requests, "requests", "LOADGEN_REQUESTS", 0, "stop after this many requests; 0 for the whole duration")
	f.IntVar(&c.payload, "payload-bytes", "LOADGEN_PAYLOAD_BYTES", 1000, "approximate size of each webhook body")
	f.Float64Var(&c.knownRatio, "known-ratio", "LOADGEN_KNOWN_RATIO", 0.3, "share of sessions with a lead and a company")
	f.DurationVar(&c.timeout, "timeout", "LOADGEN_TIMEOUT", 10*time.Second, "one request's time limit")
	f.Float64Var(&c.maxErrorRate, "max-error-rate", "LOADGEN_MAX_ERROR_RATE", 0, "share of requests (0 to 1) that may fail (not 2xx, or no answer) before the run exits 1")
	f.BoolVar(&c.direct, "direct", "LOADGEN_DIRECT", false, "also publish the same events straight to JetStream and compare")
	f.IntVar(&c.pid, "pid", "LOADGEN_PID", 0, "local process whose CPU time and peak memory to measure (Linux)")
	f.StringVar(&c.label, "label", "LOADGEN_LABEL", "", "name of the target in the results; the URL when empty")
	f.StringVar(&c.jsonOut, "json", "LOADGEN_JSON", "", "also write the results as JSON to this `file` (- for stdout)")
	f.StringVar(&c.secretFile, "secret-file", "STORYLANE_WEBHOOK_SECRET_FILE", "", "`file` of webhook secrets; the first line signs")
	f.EnvOnly("STORYLANE_WEBHOOK_SECRET", "webhook secret(s), comma-separated; the first signs")
	f.NATS(&c.nats, cli.DefaultNATSURL)
	f.Stream(&c.stream, &c.subjects)
	if err := f.Parse(args, getenv); err != nil {
		return config{}, err
	}
	c.nats.Name = "storylane-loadgen"
	switch {
	case c.mode != "closed" && c.mode != "open":
		return config{}, fmt.Errorf("%w: --mode %q: want closed or open", cli.ErrUsage, c.mode)
	case c.concurrency < 1 || c.duration <= 0 || c.requests < 0 || c.payload < 200 || c.rate <= 0 || c.timeout <= 0:
		return config{}, fmt.Errorf("%w: --concurrency, --duration, --rate and --timeout must be positive, --payload-bytes at least 200", cli.ErrUsage)
	case c.knownRatio < 0 || c.knownRatio > 1:
		return config{}, fmt.Errorf("%w: --known-ratio is between 0 and 1", cli.ErrUsage)
	case !(c.maxErrorRate >= 0 && c.maxErrorRate <= 1):
		return config{}, fmt.Errorf("%w: --max-error-rate is between 0 and 1", cli.ErrUsage)
	case c.method != "POST" && c.method != "GET":
		return config{}, fmt.Errorf("%w: --method %q: want POST or GET", cli.ErrUsage, c.method)
	case c.method == "GET" && (c.url == "" || c.direct):
		return config{}, fmt.Errorf("%w: --method GET fetches --url, and --direct publishes webhooks: give --url and no --direct", cli.ErrUsage)
	case c.url == "" && !c.direct:
		return config{}, fmt.Errorf("%w: nothing to load: give --url, --direct or both", cli.ErrUsage)
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	opts := loadgen.Options{Mode: c.mode, Concurrency: c.concurrency, Rate: c.rate, Duration: c.duration, Requests: c.requests, Timeout: c.timeout,
		Payloads: loadgen.NewPayloads(strconv.FormatInt(time.Now().UnixNano(), 36), c.payload, c.knownRatio)}
	var results []loadgen.Result
	if c.url != "" {
		target, err := httpTarget(c, getenv)
		if err != nil {
			return err
		}
		defer target.Close()
		label := c.label
		if label == "" {
			label = c.url
		}
		r, err := measured(ctx, c.pid, target, opts)
		if err != nil {
			return err
		}
		r.Target = label
		results = append(results, r)
	}
	if c.direct {
		r, err := direct(ctx, c, opts)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	loadgen.Table(stdout, results)
	if len(results) == 2 {
		fmt.Fprintf(stdout, "bridge / direct JetStream throughput: %s\n", loadgen.Ratio(results[0], results[1]))
	}
	if err := writeJSON(c.jsonOut, results, stdout); err != nil {
		return err
	}
	if err := loadgen.Check(results, c.maxErrorRate); err != nil {
		return fmt.Errorf("%w by --max-error-rate; the failures by reason are printed above", err)
	}
	return nil
}

// closer is a target that holds connections.
type closer interface {
	loadgen.Target
	Close()
}

// httpTarget is --url's target: signed webhooks, or GETs with --method GET.
func httpTarget(c config, getenv func(string) string) (closer, error) {
	if c.method == "GET" {
		return loadgen.NewGet(c.url, c.concurrency), nil
	}
	secret, err := keyring.SigningSecret(c.secretFile, getenv)
	if err != nil {
		return nil, err
	}
	return loadgen.NewHTTP(c.url, secret, c.concurrency), nil
}

// measured runs the load, measuring process pid's CPU time and peak memory
// over it when pid is set, and always the generator's own CPU time: on a
// shared machine what the generator takes, the target cannot have.
func measured(ctx context.Context, pid int, t loadgen.Target, opts loadgen.Options) (loadgen.Result, error) {
	self := loadgen.NewProcess(os.Getpid())
	var p *loadgen.Process
	var before float64
	if pid != 0 {
		p = loadgen.NewProcess(pid)
		var err error
		if before, err = p.CPUSeconds(); err != nil {
			return loadgen.Result{}, fmt.Errorf("%w: --pid %d: %w", cli.ErrUsage, pid, err)
		}
		// Without a reset the peak would be the process's lifetime one.
		if err := p.ResetPeak(); err != nil {
			return loadgen.Result{}, fmt.Errorf("%w: --pid %d: reset its peak memory: %w", cli.ErrUsage, pid, err)
		}
	}
	selfBefore, _ := self.CPUSeconds()
	r := loadgen.Run(ctx, t, opts)
	selfAfter, _ := self.CPUSeconds()
	if r.Requests == 0 {
		return r, nil
	}
	r.GeneratorCPUMicrosPer = (selfAfter - selfBefore) * 1e6 / float64(r.Requests)
	if p != nil {
		after, _ := p.CPUSeconds()
		r.CPUMicrosPer = (after - before) * 1e6 / float64(r.Requests)
		r.PeakRSSMiB, _ = p.PeakRSSMiB()
	}
	return r, nil
}

func direct(ctx context.Context, c config, opts loadgen.Options) (loadgen.Result, error) {
	nc, err := broker.Connect(c.nats, zap.NewNop())
	if err != nil {
		return loadgen.Result{}, fmt.Errorf("--direct: %w", err)
	}
	defer nc.Close()
	// As the bridge publishes: acks bounded, and given up after the
	// request's own time limit.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(max(1024, 2*c.concurrency)), jetstream.WithPublishAsyncTimeout(c.timeout))
	if err != nil {
		return loadgen.Result{}, fmt.Errorf("jetstream: %w", err)
	}
	err = broker.Await(ctx, zap.NewNop(), "the stream", func(ctx context.Context) error {
		_, err := js.Stream(ctx, c.stream)
		return err
	})
	if err != nil {
		return loadgen.Result{}, err
	}
	opts.Payloads = loadgen.NewPayloads("direct-"+strconv.FormatInt(time.Now().UnixNano(), 36), c.payload, c.knownRatio)
	r, err := measured(ctx, 0, loadgen.NewDirect(js, c.stream, c.subjects), opts)
	if err != nil {
		return loadgen.Result{}, err
	}
	r.Target = "direct JetStream " + broker.RedactURLs(c.nats.URL)
	return r, nil
}

func writeJSON(file string, results []loadgen.Result, stdout io.Writer) error {
	if file == "" {
		return nil
	}
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return fmt.Errorf("results as JSON: %w", err)
	}
	if file == "-" {
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
