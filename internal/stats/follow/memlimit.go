package follow

import "runtime/debug"

// DefaultMemoryLimit is session-stats' soft memory limit (the Go runtime's,
// as GOMEMLIMIT sets it) when the environment gives none. At a million
// events the figures hold 31-36 MiB live, and the collector, left to GOGC
// alone, let the heap grow to twice that between cycles: about 100 MiB
// resident. At 56 MiB a rebuild of a million events peaks near 70 MiB
// resident (about 15 MiB of it the binary's own pages) as fast as without
// a limit; at 44 MiB it peaked no lower and took twice as long, the
// collector running constantly. docs/performance.md has the measurements.
const DefaultMemoryLimit = 56 << 20

// SetMemoryLimit gives the runtime DefaultMemoryLimit unless getenv's
// GOMEMLIMIT set one (which the runtime read when the process started),
// and returns the limit in force.
func SetMemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}
