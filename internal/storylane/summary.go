package storylane

import "time"

// Summary is what routing a session takes: its id, whether Storylane
// identified it, and when it was viewed. The bridge reads no more of a
// webhook; the rest travels in the raw body for consumers to read.
type Summary struct {
	ID       string
	Known    bool
	ViewedAt string
}

// Summary returns the session's summary.
func (s Session) Summary() Summary {
	return Summary{ID: s.ID, Known: s.Known(), ViewedAt: s.ViewedAt}
}

// ViewedTime is viewed_at as a time, and false when it is absent, not an
// RFC 3339 timestamp, or the zero time (which the CloudEvents SDK takes for
// no time at all).
func (s Summary) ViewedTime() (time.Time, bool) {
	if s.ViewedAt == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s.ViewedAt)
	if err != nil || t.IsZero() {
		return time.Time{}, false
	}
	return t, true
}
