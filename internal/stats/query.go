package stats

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Query selects sessions by day, From and To inclusive (days since
// 1970-01-01, see ParseDay; To 0 for no end), and by demo: a Demo that is
// not "" keeps the demos whose name or link it equals.
type Query struct {
	From, To uint16
	Demo     string
}

// ParseDay reads a YYYY-MM-DD date as a day.
func ParseDay(s string) (uint16, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1970 || t.Year() > 2100 {
		return 0, fmt.Errorf("day %q: want YYYY-MM-DD between 1970 and 2100", s)
	}
	return uint16(t.Unix() / 86400), nil
}

func (q Query) day(d uint16) bool { return d >= q.From && (q.To == 0 || d <= q.To) }

func (q Query) demo(d Demo) bool { return q.Demo == "" || q.Demo == d.Name || q.Demo == d.Link }

// Figures are the figures of a set of sessions. Rates are fractions of
// Sessions (0 when there are none). Medians and the 90th percentile are
// the lower bound of the bucket holding the session of that rank (the
// lower middle for an even count), nil when no session has the field.
type Figures struct {
	Sessions  int64   `json:"sessions"`
	Known     int64   `json:"known"`
	Unknown   int64   `json:"unknown"`
	KnownRate float64 `json:"known_rate"`
	// Leads counts the sessions with a lead; who they are is never shown.
	Leads             int64    `json:"leads"`
	Completion        []Bucket `json:"completion"`
	CompletionUnknown int64    `json:"completion_unknown"`
	CompletionMedian  *int     `json:"completion_median"`
	TimeSpentMedian   *int64   `json:"time_spent_median_seconds"`
	TimeSpentP90      *int64   `json:"time_spent_p90_seconds"`
	TimeSpentUnknown  int64    `json:"time_spent_unknown"`
	ChecklistRate     float64  `json:"checklist_rate"`
	CTARate           float64  `json:"cta_rate"`
}

// Bucket is one range of completion, in percent, From and To inclusive.
type Bucket struct {
	From     int   `json:"from"`
	To       int   `json:"to"`
	Sessions int64 `json:"sessions"`
}

// DayFigures are one day's figures.
type DayFigures struct {
	Day string `json:"day"`
	Figures
}

// DemoFigures are one demo's figures.
type DemoFigures struct {
	Demo
	Figures
}

// Overview is a query's totals and its days.
type Overview struct {
	Totals Figures      `json:"totals"`
	Days   []DayFigures `json:"days"`
}

// CampaignFigures are one campaign's sessions.
type CampaignFigures struct {
	Campaign
	Sessions  int64   `json:"sessions"`
	Known     int64   `json:"known"`
	KnownRate float64 `json:"known_rate"`
}

// CompanyFigures are one revealed company's sessions and its last visit
// (the latest session time, RFC 3339 UTC).
type CompanyFigures struct {
	Company
	Sessions  int64  `json:"sessions"`
	LastVisit string `json:"last_visit"`
}

// Overview returns the totals of q and the figures of each of its days
// that has sessions, in order.
func (a *Aggregates) Overview(q Query) Overview {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var total cell
	days := map[uint16]*cell{}
	a.eachCell(q, func(day uint16, _ int, c *cell) {
		total.merge(c)
		if days[day] == nil {
			days[day] = &cell{}
		}
		days[day].merge(c)
	})
	o := Overview{Totals: total.figures(), Days: []DayFigures{}}
	for _, d := range slices.Sorted(maps.Keys(days)) {
		o.Days = append(o.Days, DayFigures{Day: DayString(d), Figures: days[d].figures()})
	}
	return o
}

// Demos returns the figures of each demo with sessions in q, the most
// sessions first.
func (a *Aggregates) Demos(q Query) []DemoFigures {
	a.mu.RLock()
	defer a.mu.RUnlock()
	demos := map[int]*cell{}
	a.eachCell(q, func(_ uint16, demo int, c *cell) {
		if demos[demo] == nil {
			demos[demo] = &cell{}
		}
		demos[demo].merge(c)
	})
	out := []DemoFigures{}
	for i, c := range demos {
		out = append(out, DemoFigures{Demo: a.demos.values[i], Figures: c.figures()})
	}
	slices.SortFunc(out, func(x, y DemoFigures) int {
		return cmp.Or(cmp.Compare(y.Sessions, x.Sessions), cmp.Compare(x.Name, y.Name), cmp.Compare(x.Link, y.Link))
	})
	return out
}

// Campaigns returns the sessions of each campaign in q, the most known
// sessions first. Sessions without utm parameters are the campaign whose
// fields are all "".
func (a *Aggregates) Campaigns(q Query) []CampaignFigures {
	a.mu.RLock()
	defer a.mu.RUnlock()
	sums := a.sumWide(&a.utm, q)
	out := []CampaignFigures{}
	for i, v := range sums {
		s, k := int64(v>>32), int64(uint32(v))
		out = append(out, CampaignFigures{Campaign: a.campaigns.values[i], Sessions: s, Known: k, KnownRate: rate(k, s)})
	}
	slices.SortFunc(out, func(x, y CampaignFigures) int {
		return cmp.Or(cmp.Compare(y.Known, x.Known), cmp.Compare(y.Sessions, x.Sessions), cmp.Compare(x.Source, y.Source),
			cmp.Compare(x.Medium, y.Medium), cmp.Compare(x.Campaign.Campaign, y.Campaign.Campaign))
	})
	return out
}

// Companies returns each company revealed in q with its sessions and last
// visit, the most sessions first.
func (a *Aggregates) Companies(q Query) []CompanyFigures {
	a.mu.RLock()
	defer a.mu.RUnlock()
	sums := a.sumWide(&a.visits, q)
	out := []CompanyFigures{}
	for i, v := range sums {
		out = append(out, CompanyFigures{Company: a.companies.values[i], Sessions: int64(v >> 32),
			LastVisit: time.Unix(int64(uint32(v)), 0).UTC().Format(time.RFC3339)})
	}
	slices.SortFunc(out, func(x, y CompanyFigures) int {
		return cmp.Or(cmp.Compare(y.Sessions, x.Sessions), cmp.Compare(y.LastVisit, x.LastVisit), cmp.Compare(x.Domain, y.Domain),
			cmp.Compare(x.Name, y.Name))
	})
	return out
}

func (a *Aggregates) eachCell(q Query, fn func(day uint16, demo int, c *cell)) {
	for k, c := range a.cells {
		day, demo := uint16(k>>16), int(k&0xffff)
		if q.day(day) && q.demo(a.demos.values[demo]) {
			fn(day, demo, c)
		}
	}
}

// sumWide adds up, per campaign or company, the values of table in q.
func (a *Aggregates) sumWide(t *table, q Query) map[int]uint64 {
	sums := map[int]uint64{}
	t.each(func(k, v uint64) {
		day, demo, other := uint16(k>>48), int(k>>32&0xffff), int(uint32(k))
		if q.day(day) && q.demo(a.demos.values[demo]) {
			sums[other] = t.combine(sums[other], v)
		}
	})
	return sums
}

func (c *cell) figures() Figures {
	f := Figures{Sessions: int64(c.Sessions), Known: int64(c.Known), Unknown: int64(c.Sessions - c.Known), Leads: int64(c.Leads),
		CompletionUnknown: int64(c.CompletionUnknown), TimeSpentUnknown: int64(c.TimeUnknown),
		KnownRate: rate(int64(c.Known), int64(c.Sessions)), ChecklistRate: rate(int64(c.Checklist), int64(c.Sessions)),
		CTARate: rate(int64(c.CTA), int64(c.Sessions))}
	for i, n := range c.Completion {
		f.Completion = append(f.Completion, Bucket{From: i * 10, To: min(i*10+9, 100), Sessions: int64(n)})
	}
	if b, ok := rank(c.Completion[:], 0.5); ok {
		v := b * 10
		f.CompletionMedian = &v
	}
	if b, ok := rank(c.Time, 0.5); ok {
		v := int64(timeLower(b))
		f.TimeSpentMedian = &v
	}
	if b, ok := rank(c.Time, 0.9); ok {
		v := int64(timeLower(b))
		f.TimeSpentP90 = &v
	}
	return f
}

// rank is the bucket holding the session of rank ceil(q*n), n the count in
// buckets (the nearest-rank method).
func rank(buckets []uint32, q float64) (int, bool) {
	var n uint64
	for _, c := range buckets {
		n += uint64(c)
	}
	if n == 0 {
		return 0, false
	}
	want := uint64(max(1, math.Ceil(q*float64(n))))
	var seen uint64
	for i, c := range buckets {
		seen += uint64(c)
		if seen >= want {
			return i, true
		}
	}
	return len(buckets) - 1, true
}

func rate(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}
