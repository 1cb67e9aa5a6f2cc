package stats

import (
	"math/bits"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// cell holds the figures of one day and demo. Fields are exported for the
// snapshot's gob encoding only.
type cell struct {
	Sessions, Known, Leads, Checklist, CTA uint32
	// Completion counts sessions by completion in tens of percent: 0-9,
	// 10-19, ..., 90-99, and 100.
	Completion        [completionBuckets]uint32
	CompletionUnknown uint32
	// Time counts sessions by time spent (timeBucket), grown to the
	// highest bucket seen: a few dozen counters for sessions under hours.
	Time        []uint32
	TimeUnknown uint32
}

const completionBuckets = 11

func (c *cell) add(s storylane.Session) {
	c.Sessions++
	if s.Known() {
		c.Known++
	}
	if s.Lead != nil {
		c.Leads++
	}
	if s.ChecklistCompleted {
		c.Checklist++
	}
	if s.CTAOpened != "" {
		c.CTA++
	}
	if v, ok := number(string(s.Completion)); ok && v <= 100 {
		c.Completion[int(v)/10]++
	} else {
		c.CompletionUnknown++
	}
	if v, ok := number(string(s.TimeSpent)); ok {
		b := timeBucket(uint64(min(v, 1<<40)))
		if b >= len(c.Time) {
			c.Time = append(c.Time, make([]uint32, b+1-len(c.Time))...)
		}
		c.Time[b]++
	} else {
		c.TimeUnknown++
	}
}

func (c *cell) merge(o *cell) {
	c.Sessions += o.Sessions
	c.Known += o.Known
	c.Leads += o.Leads
	c.Checklist += o.Checklist
	c.CTA += o.CTA
	for i, n := range o.Completion {
		c.Completion[i] += n
	}
	c.CompletionUnknown += o.CompletionUnknown
	if len(o.Time) > len(c.Time) {
		c.Time = append(c.Time, make([]uint32, len(o.Time)-len(c.Time))...)
	}
	for i, n := range o.Time {
		c.Time[i] += n
	}
	c.TimeUnknown += o.TimeUnknown
}

// timeBucket is the bucket of a time spent in whole seconds: exact below
// 16 s, then four buckets per doubling, so that a bucket is at most a
// quarter of its lower bound wide (16-19 s, 20-23 s, ..., 1024-1279 s).
func timeBucket(v uint64) int {
	if v < 16 {
		return int(v)
	}
	o := 63 - leadingZeros(v) // v's highest bit, 4 or more
	sub := int(v>>(o-2)) & 3
	return 16 + (o-4)*4 + sub
}

// timeLower is the lowest time spent in bucket b.
func timeLower(b int) uint64 {
	if b < 16 {
		return uint64(b)
	}
	o, sub := (b-16)/4+4, (b-16)%4
	return uint64(4+sub) << (o - 2)
}

func leadingZeros(v uint64) int { return bits.LeadingZeros64(v) }
