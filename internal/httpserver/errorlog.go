package httpserver

import (
	"log"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// errorLog is an http.Server's ErrorLog that writes to logger at a bounded
// rate (5 lines a second, bursts of 20), saying how many it left out:
// net/http logs a line for every failed TLS handshake or garbled request,
// which anyone can send by the thousand.
func errorLog(logger *zap.Logger, name string) *log.Logger {
	return log.New(&limitedLog{logger: logger.Named(name), lim: rate.NewLimiter(5, 20)}, "", 0)
}

type limitedLog struct {
	logger  *zap.Logger
	lim     *rate.Limiter
	dropped atomic.Int64
}

func (l *limitedLog) Write(p []byte) (int, error) {
	if !l.lim.Allow() {
		l.dropped.Add(1)
		return len(p), nil
	}
	fields := []zap.Field{}
	if n := l.dropped.Swap(0); n > 0 {
		fields = append(fields, zap.Int64("lines_not_logged", n))
	}
	l.logger.Warn(strings.TrimSpace(string(p)), fields...)
	return len(p), nil
}
