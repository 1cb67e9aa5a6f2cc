package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/ingresstest"
	"github.com/storylane-bridge/storylane-bridge/internal/loadgen"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const secret = "loadgen-test-secret"

// startBridge runs the bridge's handler on loopback over a real JetStream
// server; it returns the webhook URL, the server and the stream's reader.
func startBridge(t *testing.T) (string, *natstest.Server, jetstream.JetStream) {
	t.Helper()
	b := ingresstest.Start(t, secret)
	return b.URL, b.NATS, b.JS
}

// Both targets, one command: every request is stored, the bridge's events
// and the direct ones alike, and the results come as a table and JSON.
func TestLoadBridgeAndDirect(t *testing.T) {
	t.Parallel()
	url, srv, js := startBridge(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"--url", url, "--direct", "--nats-url", srv.URL(), "--requests", "120", "--concurrency", "6",
		"--duration", "1m", "--pid", strconv.Itoa(os.Getpid()), "--json", "-"}, clitest.Env(map[string]string{"STORYLANE_WEBHOOK_SECRET": secret}), &out)
	if err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "bridge / direct JetStream throughput:") || !strings.Contains(text, "req/s") {
		t.Errorf("run printed %q, want the table and the ratio", text)
	}
	var results []loadgen.Result
	if err := json.Unmarshal([]byte(text[strings.Index(text, "\n["):]), &results); err != nil {
		t.Fatalf("JSON results: %v\n%s", err, text)
	}
	if len(results) != 2 {
		t.Fatalf("got %d results, want 2", len(results))
	}
	for _, r := range results {
		if r.Requests != 120 || r.Errors != 0 || r.Throughput <= 0 || r.LatencyMs["p99"] <= 0 {
			t.Errorf("result %s = %d requests, %d errors, %.0f/s, p99 %.2f ms; want 120 stored", r.Target, r.Requests, r.Errors, r.Throughput, r.LatencyMs["p99"])
		}
	}
	if results[0].CPUMicrosPer <= 0 || results[0].PeakRSSMiB <= 0 || results[0].GeneratorCPUMicrosPer <= 0 {
		t.Errorf("--pid measured cpu %.1f µs/req, peak %.1f MiB, generator %.1f µs/req; want all positive",
			results[0].CPUMicrosPer, results[0].PeakRSSMiB, results[0].GeneratorCPUMicrosPer)
	}
	msgs := natstest.Messages(t, js, broker.DefaultStream)
	ids := map[string]bool{}
	for _, m := range msgs {
		if _, err := cloudevent.FromMsg(&natsgo.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}); err != nil {
			t.Fatalf("stored message %d is no event: %v", m.Sequence, err)
		}
		ids[m.Header.Get(jetstream.MsgIDHeader)] = true
	}
	if len(msgs) != 240 || len(ids) != 240 {
		t.Errorf("stream holds %d messages, %d distinct; want 240 events, each new", len(msgs), len(ids))
	}
}

func TestOpenLoop(t *testing.T) {
	t.Parallel()
	url, _, js := startBridge(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{"--url", url, "--mode", "open", "--rate", "100", "--duration", "1s", "--concurrency", "8", "--json", "-"},
		clitest.Env(map[string]string{"STORYLANE_WEBHOOK_SECRET": secret}), &out)
	if err != nil {
		t.Fatal(err)
	}
	n := len(natstest.Messages(t, js, broker.DefaultStream))
	if n < 50 || n > 101 {
		t.Errorf("open loop at 100/s for 1s stored %d events, want about 100", n)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--mode", "sideways"}, {"--concurrency", "0"}, {"--known-ratio", "2"}, {"--url", ""}, {"--payload-bytes", "10"},
		{"--max-error-rate", "1.5"}, {"--max-error-rate", "-0.1"}, {"--max-error-rate", "NaN"},
		{"--method", "PUT"}, {"--method", "GET", "--direct"}, {"--method", "GET", "--url", ""},
	} {
		err := run(context.Background(), args, clitest.Env(map[string]string{"STORYLANE_WEBHOOK_SECRET": "s"}), &bytes.Buffer{})
		if !errors.Is(err, cli.ErrUsage) {
			t.Errorf("run(%v) = %v, want a usage error", args, err)
		}
	}
	err := run(context.Background(), []string{"--url", "http://127.0.0.1:1/x", "--requests", "1"}, clitest.Env(nil), &bytes.Buffer{})
	if !errors.Is(err, cli.ErrUsage) {
		t.Errorf("run without a secret = %v, want a usage error", err)
	}
}

// --method GET loads a page or an API: GETs of --url as it is, at the
// open loop's rate, with no webhook secret needed.
func TestGetOpenLoop(t *testing.T) {
	t.Parallel()
	var gets, posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.RequestURI() == "/api/overview?from=2024-01-01" {
			gets.Add(1)
		} else {
			posts.Add(1)
		}
		fmt.Fprintln(w, `{"sessions":1}`)
	}))
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	err := run(context.Background(), []string{"--method", "GET", "--url", srv.URL + "/api/overview?from=2024-01-01", "--mode", "open",
		"--rate", "100", "--duration", "1s", "--concurrency", "4", "--json", "-"}, clitest.Env(nil), &out)
	if err != nil {
		t.Fatal(err)
	}
	if n := gets.Load(); n < 50 || n > 101 || posts.Load() != 0 {
		t.Errorf("run(--method GET, open loop at 100/s for 1s) = %d GETs of the URL and %d other requests, want about 100 and 0\n%s", n, posts.Load(), out.String())
	}
}

// A run with failed requests says why and exits 1, unless
// --max-error-rate allows as many.
func TestFailedRequestsFailTheRun(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"error":"event store unavailable, retry later"}`)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		maxRate string
		exit    int
	}{{"0", 1}, {"0.2", 1}, {"0.25", 0}} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"--url", srv.URL, "--requests", "40", "--concurrency", "1", "--duration", "1m",
			"--max-error-rate", tt.maxRate, "--json", "-"}, clitest.Env(map[string]string{"STORYLANE_WEBHOOK_SECRET": secret}), &out)
		if got := cli.Exit(io.Discard, "storylane-loadgen", err); got != tt.exit {
			t.Errorf("run(--max-error-rate %s) = %v, exit %d; want exit %d (10 of 40 failed)", tt.maxRate, err, got, tt.exit)
		}
		if err != nil && !strings.Contains(err.Error(), srv.URL+": 10 of 40 requests failed (25.00%)") {
			t.Errorf("run(--max-error-rate %s) = %v, want it to name the target and its failures", tt.maxRate, err)
		}
		text := out.String()
		if !strings.Contains(text, "10 of 40 requests failed (25.00%)") || !strings.Contains(text, "503        event store unavailable, retry later") {
			t.Errorf("run printed\n%s\nwant the failures by status and reason", text)
		}
		var results []loadgen.Result
		if err := json.Unmarshal([]byte(text[strings.Index(text, "\n["):]), &results); err != nil {
			t.Fatalf("JSON results: %v\n%s", err, text)
		}
		want := []loadgen.Failure{{Status: 503, Reason: "event store unavailable, retry later", Count: 10}}
		if len(results) != 1 || results[0].ErrorRate != 0.25 || !reflect.DeepEqual(results[0].Failures, want) {
			t.Errorf("JSON results = %+v, want an error rate of 0.25 and failures %+v", results, want)
		}
	}
}

func TestHelpAndReadmeAgree(t *testing.T) {
	t.Parallel()
	clitest.CheckHelpInDocs(t, run)
}
