package api

import (
	"fmt"
	"strings"

	"github.com/storylane-bridge/storylane-bridge/internal/stats"
)

// chart is an SVG bar chart laid out here, in the units of its viewBox, so
// that the template only draws it: the page needs no script to show it.
type chart struct {
	Label         string // aria-label: what the chart shows, with its numbers
	Width, Height int
	Rects         []rect
	Texts         []text
}

type rect struct {
	X, Y, W, H float64
	Class      string
	Title      string // the bar's figures, shown on hover
}

type text struct {
	X, Y   float64
	Anchor string
	Text   string
}

const (
	chartWidth = 640
	dayHeight  = 200
	dayBase    = 180 // the axis: room under it for the first and last day
	rowHeight  = 28  // of a horizontal bar chart
	labelWidth = 220 // the labels left of horizontal bars
)

// dayChart stacks each day's unknown sessions on its known ones.
func dayChart(days []stats.DayFigures, totals stats.Figures) chart {
	c := chart{Width: chartWidth, Height: dayHeight,
		Label: fmt.Sprintf("Sessions per day, %s: %d sessions, %d known and %d unknown.", count(len(days), "day"), totals.Sessions, totals.Known, totals.Unknown)}
	var peak int64
	for _, d := range days {
		peak = max(peak, d.Sessions)
	}
	if len(days) == 0 || peak == 0 {
		c.Texts = append(c.Texts, text{X: chartWidth / 2, Y: dayHeight / 2, Anchor: "middle", Text: "No sessions"})
		return c
	}
	step := float64(chartWidth) / float64(len(days))
	scale := float64(dayBase-10) / float64(peak)
	for i, d := range days {
		x, w := float64(i)*step+step*0.1, step*0.8
		known, unknown := float64(d.Known)*scale, float64(d.Unknown)*scale
		title := fmt.Sprintf("%s: %d sessions, %d known, %d unknown", d.Day, d.Sessions, d.Known, d.Unknown)
		for _, r := range []rect{{X: x, Y: dayBase - known, W: w, H: known, Class: "known", Title: title},
			{X: x, Y: dayBase - known - unknown, W: w, H: unknown, Class: "unknown", Title: title}} {
			if r.H > 0 {
				c.Rects = append(c.Rects, r)
			}
		}
	}
	c.Texts = append(c.Texts, text{X: 0, Y: dayHeight - 4, Anchor: "start", Text: days[0].Day},
		text{X: 0, Y: 12, Anchor: "start", Text: fmt.Sprintf("%d", peak)})
	if len(days) > 1 {
		c.Texts = append(c.Texts, text{X: chartWidth, Y: dayHeight - 4, Anchor: "end", Text: days[len(days)-1].Day})
	}
	return c
}

// barRow is one bar of a horizontal bar chart and one row of its table.
type barRow struct {
	Label string
	Value int64
	Of    int64 // the whole Value is a part of, for its share; 0 for none
}

func (b barRow) Share() string { return percent(rate(b.Value, b.Of)) }

// barChart draws one horizontal bar per row, scaled to the largest.
func barChart(label string, rows []barRow) chart {
	c := chart{Label: label, Width: chartWidth, Height: max(1, len(rows)) * rowHeight}
	var peak int64
	for _, r := range rows {
		peak = max(peak, r.Value)
	}
	if len(rows) == 0 {
		c.Texts = append(c.Texts, text{X: chartWidth / 2, Y: rowHeight * 0.65, Anchor: "middle", Text: "No sessions"})
		return c
	}
	room := float64(chartWidth - labelWidth - 60)
	for i, r := range rows {
		y := float64(i * rowHeight)
		w := 0.0
		if peak > 0 {
			w = float64(r.Value) / float64(peak) * room
		}
		if w > 0 {
			c.Rects = append(c.Rects, rect{X: labelWidth, Y: y + 4, W: w, H: rowHeight - 8, Class: "known",
				Title: fmt.Sprintf("%s: %d", r.Label, r.Value)})
		}
		c.Texts = append(c.Texts, text{X: labelWidth - 6, Y: y + rowHeight*0.65, Anchor: "end", Text: shorten(r.Label, 30)},
			text{X: labelWidth + w + 6, Y: y + rowHeight*0.65, Anchor: "start", Text: fmt.Sprintf("%d", r.Value)})
	}
	return c
}

// funnel is how many sessions reached each step of completion: all of
// them, then at least 10, 50 and 90 %, then 100 %.
func funnel(f stats.Figures) []barRow {
	steps := []struct {
		label string
		from  int
	}{{"≥ 10 %", 10}, {"≥ 50 %", 50}, {"≥ 90 %", 90}, {"100 %", 100}}
	rows := []barRow{{Label: "All sessions", Value: f.Sessions, Of: f.Sessions}}
	for _, s := range steps {
		var n int64
		for _, b := range f.Completion {
			if b.From >= s.from {
				n += b.Sessions
			}
		}
		rows = append(rows, barRow{Label: s.label, Value: n, Of: f.Sessions})
	}
	return rows
}

func funnelLabel(rows []barRow) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s %d", r.Label, r.Value)
	}
	return "Completion funnel: " + strings.Join(parts, ", ") + "."
}

// topCampaigns are the campaigns with the most known sessions, at most n.
func topCampaigns(cs []stats.CampaignFigures, n int) []barRow {
	var rows []barRow
	for _, c := range cs[:min(n, len(cs))] {
		rows = append(rows, barRow{Label: campaignName(c.Campaign), Value: c.Known, Of: c.Sessions})
	}
	return rows
}

func campaignsLabel(rows []barRow) string {
	if len(rows) == 0 {
		return "Top campaigns by known sessions: none."
	}
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s %d of %d", r.Label, r.Value, r.Of)
	}
	return "Top campaigns by known sessions: " + strings.Join(parts, ", ") + "."
}

func campaignName(c stats.Campaign) string {
	if c == (stats.Campaign{}) {
		return "(no utm parameters)"
	}
	parts := []string{c.Source, c.Medium, c.Campaign}
	for i, p := range parts {
		if p == "" {
			parts[i] = "–"
		}
	}
	return strings.Join(parts, " / ")
}

// count is n and the noun, plural but for one: a screen reader reads the
// label as written.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
