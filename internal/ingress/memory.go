package ingress

import (
	"math"
	"runtime/debug"

	"go.uber.org/zap"
)

// LogMemoryLimit says what the Go runtime keeps the process's memory under
// (GOMEMLIMIT, which it reads itself), and warns when request bodies alone,
// up to maxBufferedBytes, may take most of it.
func LogMemoryLimit(maxBufferedBytes int64, logger *zap.Logger) {
	limit := debug.SetMemoryLimit(-1) // -1 reads it
	if limit == math.MaxInt64 {
		logger.Info("no GOMEMLIMIT set: in a container, set it to about 85% of the memory limit", zap.Int64("max_buffered_bytes", maxBufferedBytes))
		return
	}
	logger.Info("memory limit", zap.Int64("gomemlimit", limit), zap.Int64("max_buffered_bytes", maxBufferedBytes))
	if maxBufferedBytes > limit/2 {
		logger.Warn("--max-buffered-bytes is over half of GOMEMLIMIT: lower it, or raise the memory limit",
			zap.Int64("gomemlimit", limit), zap.Int64("max_buffered_bytes", maxBufferedBytes))
	}
}
