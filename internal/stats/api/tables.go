package api

import (
	"strconv"

	"github.com/storylane-bridge/storylane-bridge/internal/stats"
)

func overview(agg *stats.Aggregates, q stats.Query) (any, [][]string) {
	o := agg.Overview(q)
	rows := [][]string{append([]string{"day"}, figuresHeader()...)}
	for _, d := range o.Days {
		rows = append(rows, append([]string{d.Day}, figuresRow(d.Figures)...))
	}
	return o, rows
}

func demos(agg *stats.Aggregates, q stats.Query) (any, [][]string) {
	ds := agg.Demos(q)
	rows := [][]string{append([]string{"name", "link"}, figuresHeader()...)}
	for _, d := range ds {
		rows = append(rows, append([]string{d.Name, d.Link}, figuresRow(d.Figures)...))
	}
	return ds, rows
}

func campaigns(agg *stats.Aggregates, q stats.Query) (any, [][]string) {
	cs := agg.Campaigns(q)
	rows := [][]string{{"utm_source", "utm_medium", "utm_campaign", "sessions", "known", "known_rate"}}
	for _, c := range cs {
		rows = append(rows, []string{c.Source, c.Medium, c.Campaign.Campaign, itoa(c.Sessions), itoa(c.Known), ftoa(c.KnownRate)})
	}
	return cs, rows
}

func companies(agg *stats.Aggregates, q stats.Query) (any, [][]string) {
	cs := agg.Companies(q)
	rows := [][]string{{"name", "domain", "revenue_range", "employee_range", "sessions", "last_visit"}}
	for _, c := range cs {
		rows = append(rows, []string{c.Name, c.Domain, c.RevenueRange, c.EmployeeRange, itoa(c.Sessions), c.LastVisit})
	}
	return cs, rows
}

func figuresHeader() []string {
	h := []string{"sessions", "known", "unknown", "known_rate", "leads"}
	for i := 0; i < 100; i += 10 {
		h = append(h, "completion_"+strconv.Itoa(i)+"_"+strconv.Itoa(i+9))
	}
	return append(h, "completion_100", "completion_unknown", "completion_median", "time_spent_median_seconds",
		"time_spent_p90_seconds", "time_spent_unknown", "checklist_rate", "cta_rate")
}

func figuresRow(f stats.Figures) []string {
	r := []string{itoa(f.Sessions), itoa(f.Known), itoa(f.Unknown), ftoa(f.KnownRate), itoa(f.Leads)}
	for _, b := range f.Completion {
		r = append(r, itoa(b.Sessions))
	}
	return append(r, itoa(f.CompletionUnknown), optional(f.CompletionMedian), optional(f.TimeSpentMedian),
		optional(f.TimeSpentP90), itoa(f.TimeSpentUnknown), ftoa(f.ChecklistRate), ftoa(f.CTARate))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// optional is "" for no value.
func optional[T int | int64](v *T) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(int64(*v), 10)
}
