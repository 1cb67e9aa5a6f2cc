package storylane

import (
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fastjson"
)

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

// Summarize reads the summary of a payload parsed by Decode. It reads a
// session as FromValue does, but only the fields it needs: the schema
// vouches for the others.
func Summarize(v *fastjson.Value) (Summary, error) {
	var s Summary
	var lead, company bool
	err := eachField(v, func(key []byte, f *fastjson.Value) error {
		var err error
		switch string(key) {
		case "id":
			s.ID, err = str(f)
		case "viewed_at":
			s.ViewedAt, err = str(f)
		case "lead":
			lead, err = present(f)
		case "buyer_reveal":
			company, err = present(f)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", string(key), err)
		}
		return nil
	})
	if err != nil {
		return Summary{}, fmt.Errorf("%w: %w", ErrNotSession, err)
	}
	if s.ID == "" {
		return Summary{}, fmt.Errorf("%w: missing id", ErrNotSession)
	}
	s.Known = lead || company
	return s, nil
}

// present reports whether an object-or-null field holds an object.
func present(v *fastjson.Value) (bool, error) {
	switch v.Type() {
	case fastjson.TypeNull:
		return false, nil
	case fastjson.TypeObject:
		return true, nil
	}
	return false, errors.New("not an object")
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
