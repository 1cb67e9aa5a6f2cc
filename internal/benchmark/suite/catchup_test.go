package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// counts answers the hub's message counts in turn, then the last one
// again; a zero-length answer is an error.
func counts(answers ...[]uint64) func() (uint64, error) {
	i := 0
	return func() (uint64, error) {
		a := answers[min(i, len(answers)-1)]
		i++
		if len(a) == 0 {
			return 0, errors.New("no answer")
		}
		return a[0], nil
	}
}

func TestWatchCatchUp(t *testing.T) {
	n := func(v uint64) []uint64 { return []uint64{v} }
	none := []uint64{}
	tests := []struct {
		name      string
		count     func() (uint64, error)
		from      uint64
		want      uint64
		wantErr   string
		startedAt int // the poll, from 1, at which the first event came
		polls     int
	}{
		{"drains", counts(n(5), n(5), n(7), n(9), n(10)), 5, 10, "", 3, 5},
		{"a hub that does not answer yet", counts(none, none, n(5), n(10)), 5, 10, "", 4, 4},
		{"all at once", counts(n(10)), 5, 10, "", 1, 1},
		{"stored twice", counts(n(5), n(8), n(11)), 5, 10, "stored twice", 0, 0},
		{"never all", counts(n(5), n(8)), 5, 10, "holds 3 of 5 events", 0, 0},
		{"never answers", counts(none), 5, 10, "last error: no answer", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// When each poll answered, after since: the watch's own times
			// come right after, and before the next poll.
			since := time.Now()
			var polled []time.Duration
			count := func() (uint64, error) {
				v, err := tt.count()
				polled = append(polled, time.Since(since))
				return v, err
			}
			// Only the rows that never finish wait out the limit; the
			// others get one no stall on this shared machine reaches.
			limit := 10 * time.Second
			if strings.HasPrefix(tt.name, "never") {
				limit = 50 * time.Millisecond
			}
			c, err := watchCatchUp(count, tt.from, tt.want, since, time.Millisecond, limit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("watchCatchUp() = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("watchCatchUp() = %v, want nil", err)
			}
			first, last := polled[tt.startedAt-1], polled[len(polled)-1]
			if c.started < first || (tt.startedAt < len(polled) && c.started >= polled[tt.startedAt]) {
				t.Errorf("watchCatchUp() started = %s, want the time of poll %d of %v", c.started, tt.startedAt, polled)
			}
			if c.done < last {
				t.Errorf("watchCatchUp() done = %s, want at least the last poll's %s", c.done, last)
			}
			if len(polled) != tt.polls {
				t.Errorf("watchCatchUp() polled %d times, want %d (it stops once all are in)", len(polled), tt.polls)
			}
		})
	}
}

func TestCatchUpRates(t *testing.T) {
	tests := []struct {
		c               catchUp
		rate, drainRate float64
	}{
		{catchUp{started: time.Second, done: 3 * time.Second}, 1000, 1500},
		{catchUp{started: 2 * time.Second, done: 2 * time.Second}, 1500, 1500},
	}
	for _, tt := range tests {
		if got := tt.c.rate(3000); got != tt.rate {
			t.Errorf("%+v.rate(3000) = %v, want %v", tt.c, got, tt.rate)
		}
		if got := tt.c.drainRate(3000); got != tt.drainRate {
			t.Errorf("%+v.drainRate(3000) = %v, want %v", tt.c, got, tt.drainRate)
		}
	}
}
