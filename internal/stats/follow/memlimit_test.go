package follow

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	tests := []struct {
		env       string
		set, want int64 // the limit the runtime had from the environment, the one after
	}{
		{"", math.MaxInt64, DefaultMemoryLimit},
		{"100MiB", 100 << 20, 100 << 20},
		{"off", math.MaxInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		debug.SetMemoryLimit(tt.set)
		getenv := func(name string) string {
			if name == "GOMEMLIMIT" {
				return tt.env
			}
			return ""
		}
		if got := SetMemoryLimit(getenv); got != tt.want || debug.SetMemoryLimit(-1) != tt.want {
			t.Errorf("SetMemoryLimit(GOMEMLIMIT=%q) = %d, runtime's %d, want %d", tt.env, got, debug.SetMemoryLimit(-1), tt.want)
		}
	}
}
