// Package poll waits, in tests, for a condition that another goroutine or
// process makes true: an event handled, a server ready, a file written.
package poll

import (
	"testing"
	"time"
)

// looks is how many times a wait checks its condition over its timeout:
// often enough that a short wait notices at once, seldom enough that a
// long one with a costly condition (reading an archive, an HTTP request)
// does not load the machine it waits on.
const looks = 1000

// Within reports whether cond returned true within timeout. It is for a
// test that words its own failure, with the state it found; Eventually
// words it for the others.
func Within(timeout time.Duration, cond func() bool) bool {
	every := max(timeout/looks, time.Millisecond)
	for deadline := time.Now().Add(timeout); ; time.Sleep(every) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// Eventually stops the test unless cond returns true within timeout; what
// names the condition in the failure.
func Eventually(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	if !Within(timeout, cond) {
		tb.Fatalf("poll.Eventually(%q) = false for %v, want true", what, timeout)
	}
}
