package follow

import "runtime/debug"

// DefaultMemoryLimit is session-stats' soft memory limit (the Go runtime's,
// as GOMEMLIMIT sets it) when the environment gives none. At a million
// events the figures hold about 35 MiB live, and the collector, left to
// GOGC alone, let the heap grow to twice that between cycles; this limit
// keeps a rebuild of a million events under 64 MiB resident (about 15 MiB
// of it the binary's own pages) at the cost of more frequent collections
// near the end. docs/performance.md has the measurements.
const DefaultMemoryLimit = 44 << 20

// SetMemoryLimit gives the runtime DefaultMemoryLimit unless getenv's
// GOMEMLIMIT set one (which the runtime read when the process started),
// and returns the limit in force.
func SetMemoryLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}
