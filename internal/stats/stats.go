package stats

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Demo is a demo as sessions name it.
type Demo struct {
	Name string `json:"name"`
	Link string `json:"link"`
}

// Campaign is a session's utm_source, utm_medium and utm_campaign, each ""
// when absent.
type Campaign struct {
	Source   string `json:"utm_source"`
	Medium   string `json:"utm_medium"`
	Campaign string `json:"utm_campaign"`
}

// Company is what buyer_reveal says of the visitor's company.
type Company struct {
	Name          string `json:"name"`
	Domain        string `json:"domain"`
	RevenueRange  string `json:"revenue_range"`
	EmployeeRange string `json:"employee_range"`
}

// Aggregates are the figures of every event applied. Safe for concurrent
// use: one goroutine applies while others query.
type Aggregates struct {
	mu  sync.RWMutex
	seq uint64 // the last stream sequence applied
	// stream is when the stream counted was created, as its server says:
	// a stream deleted and created again is another one, whatever its
	// sequences. Zero until the follower sets it.
	stream time.Time
	seen   table // hashes of the ids counted

	demos     interned[Demo]
	campaigns interned[Campaign]
	companies interned[Company]

	cells map[uint32]*cell // dayDemo(day, demo)
	// utm and visits pack day (16 bits), demo (16) and campaign or company
	// (32) into a key; utm's value is sessions<<32 | known, visits' is
	// sessions<<32 | last visit in Unix seconds.
	utm    table
	visits table
}

// New returns empty aggregates.
func New() *Aggregates {
	return &Aggregates{seen: newTable(nil), demos: newInterned[Demo](), campaigns: newInterned[Campaign](),
		companies: newInterned[Company](), cells: map[uint32]*cell{}, utm: newTable(addCounts), visits: newTable(addVisit)}
}

// maxDemos bounds the demo index to its 16 bits; sessions of demos past it
// are counted under the last one.
const maxDemos = 1<<16 - 1

// Apply counts e once, and records its stream sequence as applied (a
// duplicate or a sequence lower than the last one moves nothing back). It
// reports whether e was new.
func (a *Aggregates) Apply(e consume.Event) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq = max(a.seq, e.StreamSeq)
	if !a.seen.insert(idHash(e.ID())) {
		return false
	}
	s := e.Session
	day := Day(s, e.Stored)
	demo := min(a.demos.index(Demo{Name: s.Name, Link: s.Link}), maxDemos)
	c := a.cells[dayDemo(day, demo)]
	if c == nil {
		c = &cell{}
		a.cells[dayDemo(day, demo)] = c
	}
	c.add(s)
	camp := a.campaigns.index(campaignOf(s))
	a.utm.add(wideKey(day, demo, camp), 1<<32|b2u(s.Known()))
	if s.BuyerReveal != nil {
		a.visits.add(wideKey(day, demo, a.companies.index(companyOf(s.BuyerReveal))), 1<<32|uint64(visitTime(s, e.Stored)))
	}
	return true
}

// Reset forgets everything applied, for a rebuild from the first event.
func (a *Aggregates) Reset() {
	fresh := New()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq, a.stream, a.seen, a.demos, a.campaigns, a.companies = 0, time.Time{}, fresh.seen, fresh.demos, fresh.campaigns, fresh.companies
	a.cells, a.utm, a.visits = fresh.cells, fresh.utm, fresh.visits
}

// Skip records seq as applied for a message that is not an event to count
// (one that does not decode), so that a snapshot resumes past it.
func (a *Aggregates) Skip(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq = max(a.seq, seq)
}

// Seq is the last stream sequence applied.
func (a *Aggregates) Seq() uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.seq
}

// Stream is the creation time of the stream counted; zero when none was
// set.
func (a *Aggregates) Stream() time.Time {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.stream
}

// SetStream records the creation time of the stream counted.
func (a *Aggregates) SetStream(created time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stream = created
}

// Events is how many distinct events were counted.
func (a *Aggregates) Events() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.seen.len()
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Day is the day a session counts on, in days since 1970-01-01 UTC: its
// viewed_at's UTC date, or stored's when viewed_at is missing, unreadable
// or outside the years 2000-2100.
func Day(s storylane.Session, stored time.Time) uint16 {
	t := sessionTime(s, stored)
	return uint16(t.Unix() / 86400)
}

func sessionTime(s storylane.Session, stored time.Time) time.Time {
	if t, ok := s.ViewedTime(); ok && t.Year() >= 2000 && t.Year() <= 2100 {
		return t.UTC()
	}
	return stored.UTC()
}

func visitTime(s storylane.Session, stored time.Time) uint32 {
	return uint32(sessionTime(s, stored).Unix())
}

// DayString is day as YYYY-MM-DD.
func DayString(day uint16) string {
	return time.Unix(int64(day)*86400, 0).UTC().Format(time.DateOnly)
}

func dayDemo(day uint16, demo int) uint32 { return uint32(day)<<16 | uint32(demo) }

func wideKey(day uint16, demo, other int) uint64 {
	return uint64(dayDemo(day, demo))<<32 | uint64(uint32(other))
}

func campaignOf(s storylane.Session) Campaign {
	return Campaign{Source: s.UTMParams["utm_source"], Medium: s.UTMParams["utm_medium"], Campaign: s.UTMParams["utm_campaign"]}
}

func companyOf(b *storylane.BuyerReveal) Company {
	return Company{Name: b.CompanyName, Domain: b.CompanyDomain, RevenueRange: b.CompanyAnnualRevenueRange,
		EmployeeRange: b.CompanyEmployeeRange}
}

// number reads a session's number field; false when absent, not a finite
// number, or negative.
func number(n string) (float64, bool) {
	if n == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}
