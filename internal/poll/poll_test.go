package poll

import (
	"fmt"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trueAt  int // the call from which cond returns true; 0: never
		timeout time.Duration
		want    bool
	}{
		{"true at once", 1, time.Second, true},
		{"true after some looks", 5, time.Second, true},
		{"never true", 0, 50 * time.Millisecond, false},
	}
	for _, tt := range tests {
		calls := 0
		start := time.Now()
		got := Within(tt.timeout, func() bool { calls++; return tt.trueAt > 0 && calls >= tt.trueAt })
		if got != tt.want {
			t.Errorf("%s: Within(%v) = %v after %d calls, want %v", tt.name, tt.timeout, got, calls, tt.want)
		}
		if !got && time.Since(start) < tt.timeout {
			t.Errorf("%s: Within(%v) gave up after %v, before its timeout", tt.name, tt.timeout, time.Since(start))
		}
		if tt.want && calls != tt.trueAt {
			t.Errorf("%s: Within called cond %d times, want %d: it stops at the first true", tt.name, calls, tt.trueAt)
		}
	}
}

// fatalTB records a Fatalf instead of ending the test.
type fatalTB struct {
	testing.TB
	failure string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) { f.failure = fmt.Sprintf(format, args...) }

func TestEventually(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cond func() bool
		want string
	}{
		{"holds", func() bool { return true }, ""},
		{"never holds", func() bool { return false }, `poll.Eventually("the thing done") = false for 20ms, want true`},
	}
	for _, tt := range tests {
		tb := &fatalTB{TB: t}
		Eventually(tb, "the thing done", 20*time.Millisecond, tt.cond)
		if tb.failure != tt.want {
			t.Errorf("%s: Eventually failed with %q, want %q", tt.name, tb.failure, tt.want)
		}
	}
}
