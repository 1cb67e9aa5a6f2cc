package follow

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultMemoryLimit is session-stats' soft memory limit (the Go runtime's,
// as GOMEMLIMIT sets it) when the environment says nothing of how to
// collect, while the figures are small. At a million events they hold
// 31-36 MiB live, and the collector, left to GOGC alone, let the heap grow
// to twice that between cycles: about 100 MiB resident. At 56 MiB a rebuild
// of a million events peaks near 70 MiB resident (about 15 MiB of it the
// binary's own pages); GOGC=50 peaked at 81 MiB, and slower.
// docs/performance.md has the measurements.
const DefaultMemoryLimit = 56 << 20

// SetMemoryLimit gives the runtime DefaultMemoryLimit unless getenv's
// GOMEMLIMIT or GOGC says how to collect (the runtime read them when the
// process started), and reports whether it did: then AdaptMemoryLimit
// should keep it above the figures.
func SetMemoryLimit(getenv func(string) string) bool {
	if getenv("GOMEMLIMIT") != "" || getenv("GOGC") != "" {
		return false
	}
	debug.SetMemoryLimit(DefaultMemoryLimit)
	return true
}

// memoryLimitFor is the soft limit for a live heap of live bytes:
// DefaultMemoryLimit, or half as much again as the live heap once that
// outgrows it. A fixed limit the figures outgrow makes the collector run
// without pause: three million events over a year (104 MiB live) took
// 5.5 times as long to apply under 56 MiB as under GOGC=50
// (BenchmarkYear).
func memoryLimitFor(live uint64) int64 {
	return max(DefaultMemoryLimit, int64(live/2*3))
}

// AdaptMemoryLimit sets the soft limit from the live heap every interval
// until ctx is done.
func AdaptMemoryLimit(ctx context.Context, every time.Duration) {
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(live)
		debug.SetMemoryLimit(memoryLimitFor(live[0].Value.Uint64()))
	}
}
