package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/loadgen"
)

// flaky answers in turn: 200, 503 with the bridge's JSON error, no answer
// at all (the connection closed), 502 without a body.
func flaky(t *testing.T) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch n.Add(1) % 4 {
		case 1:
			w.WriteHeader(http.StatusOK)
		case 2:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"error":"event store unavailable, retry later","request_id":"r1"}`)
		case 3:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunSaysWhyRequestsFailed(t *testing.T) {
	t.Parallel()
	srv := flaky(t)
	target := loadgen.NewHTTP(srv.URL, "s", 1)
	defer target.Close()
	r := loadgen.Run(context.Background(), target, loadgen.Options{Mode: "closed", Concurrency: 1, Duration: time.Minute, Requests: 40,
		Payloads: loadgen.NewPayloads("t", 300, 0.5), Timeout: 5 * time.Second})
	if r.Requests != 40 || r.Errors != 30 || r.ErrorRate != 0.75 {
		t.Errorf("Run = %d requests, %d errors (rate %.2f); want 40, 30 (0.75)", r.Requests, r.Errors, r.ErrorRate)
	}
	if want := map[int]int64{200: 10, 503: 10, 0: 10, 502: 10}; !reflect.DeepEqual(r.Status, want) {
		t.Errorf("Run statuses = %v, want %v", r.Status, want)
	}
	want := []loadgen.Failure{
		{Status: 0, Reason: "EOF", Count: 10},
		{Status: 502, Reason: "Bad Gateway", Count: 10},
		{Status: 503, Reason: "event store unavailable, retry later", Count: 10},
	}
	if !reflect.DeepEqual(r.Failures, want) {
		t.Errorf("Run failures = %+v, want %+v", r.Failures, want)
	}
	r.Target = "flaky"
	var out strings.Builder
	loadgen.Table(&out, []loadgen.Result{r})
	for _, line := range []string{
		"flaky: 30 of 40 requests failed (75.00%)",
		"answers by status: no answer 10, 200 10, 502 10, 503 10",
		"10  503        event store unavailable, retry later",
		"10  no answer  EOF",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("Table printed\n%s\nwant a line with %q", out.String(), line)
		}
	}
}

type sendFunc func() (int, error)

func (f sendFunc) Send(context.Context, []byte) (int, error) { return f() }

func TestFailureReasons(t *testing.T) {
	t.Parallel()
	opErr := func(errno syscall.Errno) error {
		return &url.Error{Op: "Post", URL: "http://127.0.0.1:1/x", Err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}}
	}
	for _, tt := range []struct {
		status int
		err    error
		want   string
	}{
		{0, &url.Error{Op: "Post", URL: "http://127.0.0.1:1/x", Err: io.EOF}, "EOF"},
		{0, opErr(syscall.ECONNRESET), "connection reset"},
		{0, opErr(syscall.ECONNREFUSED), "connection refused"},
		{0, &url.Error{Op: "Post", URL: "http://127.0.0.1:1/x", Err: context.DeadlineExceeded}, "timeout"},
		{0, fmt.Errorf("direct publish: %w", errors.New("nats: no response from stream")), "nats: no response from stream"},
		{429, nil, "Too Many Requests"},
	} {
		r := loadgen.Run(context.Background(), sendFunc(func() (int, error) { return tt.status, tt.err }), loadgen.Options{Mode: "closed",
			Concurrency: 1, Duration: time.Minute, Requests: 1, Payloads: loadgen.NewPayloads("t", 300, 0), Timeout: time.Second})
		if len(r.Failures) != 1 || r.Failures[0].Reason != tt.want || r.Failures[0].Status != tt.status {
			t.Errorf("Run(Send = %d, %v) failures = %+v, want one %d %q", tt.status, tt.err, r.Failures, tt.status, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	result := func(errors int64) loadgen.Result {
		return loadgen.Result{Target: "t", Requests: 100, Errors: errors, ErrorRate: float64(errors) / 100}
	}
	for _, tt := range []struct {
		errors  int64
		maxRate float64
		fail    bool
	}{
		{0, 0, false}, {1, 0, true}, {5, 0.05, false}, {6, 0.05, true}, {100, 1, false},
	} {
		err := loadgen.Check([]loadgen.Result{result(0), result(tt.errors)}, tt.maxRate)
		if got := errors.Is(err, loadgen.ErrTooManyFailures); got != tt.fail {
			t.Errorf("Check(%d of 100 failed, max %.2f) = %v, want failing %v", tt.errors, tt.maxRate, err, tt.fail)
		}
	}
}
