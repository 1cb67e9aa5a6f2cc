package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// catchUp is what a hub's message count showed while it took a backlog:
// how long until the first event came, and until it held them all.
type catchUp struct {
	started, done time.Duration
}

// rate is the backlog's events per second from the hub being back.
func (c catchUp) rate(n uint64) float64 { return float64(n) / c.done.Seconds() }

// drainRate is its events per second once forwarding had started; the
// rate from the hub being back when all came in one poll.
func (c catchUp) drainRate(n uint64) float64 {
	if c.done <= c.started {
		return c.rate(n)
	}
	return float64(n) / (c.done - c.started).Seconds()
}

// watchCatchUp polls count every interval, from since, until it reaches
// want, within limit; from is what it held before. A count past want means
// events stored twice. A failed count is tried again: a hub that is just
// back may not answer yet.
func watchCatchUp(count func() (uint64, error), from, want uint64, since time.Time, every, limit time.Duration) (catchUp, error) {
	var c catchUp
	last, moved := from, false
	var lastErr error
	for {
		n, err := count()
		now := time.Since(since)
		if err != nil {
			lastErr = err
		} else {
			if n > want {
				return c, fmt.Errorf("the hub holds %d events, %d more than were sent: stored twice", n-from, n-want)
			}
			if n > from && !moved {
				c.started, moved = now, true
			}
			if last = n; n == want {
				c.done = now
				return c, nil
			}
		}
		if now > limit {
			return c, fmt.Errorf("the hub holds %d of %d events after %s (last error: %v)", last-from, want-from, limit, lastErr)
		}
		time.Sleep(every)
	}
}

// loadAverage is the machine's load average over 1, 5 and 15 minutes, as
// /proc/loadavg says it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
