package loadgen

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"syscall"
)

// Failure counts the failed requests that got one status for one reason.
type Failure struct {
	Status int    `json:"status"` // 0: no answer
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// maxReasons bounds the distinct reasons a worker keeps, so a target whose
// every error reads differently cannot grow them without end.
const maxReasons = 32

type failureKey struct {
	status int
	reason string
}

// reason says why a request failed: the target's own words for an answer
// that is not 2xx, the class of the error when no answer came.
func reason(status int, err error) string {
	switch {
	case status != 0 && err != nil:
		return err.Error()
	case status != 0:
		return http.StatusText(status)
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	}
	// The innermost error: what wraps it names the URL, the same each time.
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	return shorten(err.Error(), 100)
}

// answerReason reads why a target refused a request from its answer: the
// bridge's JSON {"error": "..."}, else the status's name.
func answerReason(status int, body []byte) error {
	var answer struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &answer) == nil && answer.Error != "" {
		return errors.New(shorten(answer.Error, 100))
	}
	return errors.New(http.StatusText(status))
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// sortFailures lists failures, the most frequent first.
func sortFailures(m map[failureKey]int64) []Failure {
	var out []Failure
	for k, n := range m {
		out = append(out, Failure{Status: k.status, Reason: k.reason, Count: n})
	}
	slices.SortFunc(out, func(a, b Failure) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Status, b.Status), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// ErrTooManyFailures marks a run in which more requests failed than allowed.
var ErrTooManyFailures = errors.New("too many requests failed")

// Check reports the results in which the share of failed requests is above
// maxRate (0 allows none), or nil.
func Check(results []Result, maxRate float64) error {
	var errs []error
	for _, r := range results {
		if r.Errors > 0 && r.ErrorRate > maxRate {
			errs = append(errs, fmt.Errorf("%w: %s: %d of %d requests failed (%.2f%%), more than the %g%% allowed",
				ErrTooManyFailures, r.Target, r.Errors, r.Requests, 100*r.ErrorRate, 100*maxRate))
		}
	}
	return errors.Join(errs...)
}
