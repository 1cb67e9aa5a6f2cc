package follow

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
	"time"
)

func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	tests := []struct {
		env  map[string]string
		want int64
	}{
		{nil, DefaultMemoryLimit},
		{map[string]string{"GOMEMLIMIT": "200MiB"}, math.MaxInt64}, // the runtime read it; left as it is
		{map[string]string{"GOGC": "200"}, math.MaxInt64},
	}
	for _, tt := range tests {
		debug.SetMemoryLimit(math.MaxInt64)
		set := SetMemoryLimit(func(k string) string { return tt.env[k] })
		if got := debug.SetMemoryLimit(-1); got != tt.want || set != (tt.want == DefaultMemoryLimit) {
			t.Errorf("SetMemoryLimit(%v) = %v, runtime's limit %d, want %d", tt.env, set, got, tt.want)
		}
	}
}

func TestMemoryLimitFor(t *testing.T) {
	for _, tt := range []struct {
		live uint64
		want int64
	}{
		{0, DefaultMemoryLimit},
		{30 << 20, DefaultMemoryLimit},
		{40 << 20, 60 << 20},
		{104 << 20, 156 << 20},
	} {
		if got := memoryLimitFor(tt.live); got != tt.want {
			t.Errorf("memoryLimitFor(%d MiB) = %d MiB, want %d MiB", tt.live>>20, got>>20, tt.want>>20)
		}
	}
}

// It sets the limit from the live heap, and stops with its context.
func TestAdaptMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	debug.SetMemoryLimit(math.MaxInt64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); AdaptMemoryLimit(ctx, time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) == math.MaxInt64 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got < DefaultMemoryLimit || got == math.MaxInt64 {
		t.Errorf("limit after AdaptMemoryLimit = %d, want at least %d (this test's heap is small)", got, DefaultMemoryLimit)
	}
}
