package consume

import (
	"sync"
	"time"
)

// ratedLog bounds how often each kind of log line (its key) is written, so
// a failure that lasts, or a flood of refused messages, does not become a
// flood of lines, and one kind is not hidden behind another. It counts the
// lines left out, for the next that is written to say.
type ratedLog struct {
	every time.Duration

	mu       sync.Mutex
	last     map[string]time.Time
	unlogged map[string]int
}

// allow reports whether a line of key may be written now, and then how
// many of its kind were left out since the last.
func (l *ratedLog) allow(key string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.unlogged = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if last, seen := l.last[key]; seen && now.Sub(last) < l.every {
		l.unlogged[key]++
		return 0, false
	}
	n := l.unlogged[key]
	l.last[key], l.unlogged[key] = now, 0
	return n, true
}
