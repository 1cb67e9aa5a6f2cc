package api

import (
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/stats"
)

// The tallest day fills the chart's height above the axis (dayBase-10 =
// 170 units); the others are to scale, known under unknown.
func TestDayChart(t *testing.T) {
	days := []stats.DayFigures{
		{Day: "2024-05-17", Figures: stats.Figures{Sessions: 4, Known: 1, Unknown: 3}},
		{Day: "2024-05-18", Figures: stats.Figures{Sessions: 2, Known: 2}},
	}
	c := dayChart(days, stats.Figures{Sessions: 6, Known: 3, Unknown: 3})
	want := []rect{
		{X: 32, Y: 137.5, W: 256, H: 42.5, Class: "known"},
		{X: 32, Y: 10, W: 256, H: 127.5, Class: "unknown"},
		{X: 352, Y: 95, W: 256, H: 85, Class: "known"},
	}
	if len(c.Rects) != len(want) {
		t.Fatalf("dayChart() = %d bars, want %d: %+v", len(c.Rects), len(want), c.Rects)
	}
	for i, w := range want {
		got := c.Rects[i]
		got.Title = ""
		if got != w {
			t.Errorf("dayChart() bar %d = %+v, want %+v", i, got, w)
		}
	}
}

func TestFunnel(t *testing.T) {
	var buckets []stats.Bucket
	for from, n := range map[int]int64{0: 1, 10: 2, 50: 1, 90: 1, 100: 3} {
		buckets = append(buckets, stats.Bucket{From: from, To: min(from+9, 100), Sessions: n})
	}
	f := stats.Figures{Sessions: 9, Completion: buckets}
	want := []int64{9, 7, 5, 4, 3} // 1 unknown: counted in all sessions only
	got := funnel(f)
	if len(got) != len(want) {
		t.Fatalf("funnel() = %+v, want %d steps", got, len(want))
	}
	for i, w := range want {
		if got[i].Value != w || got[i].Of != 9 {
			t.Errorf("funnel() step %d = %d of %d, want %d of 9", i, got[i].Value, got[i].Of, w)
		}
	}
}

func TestDayChartLabel(t *testing.T) {
	day := stats.DayFigures{Day: "2024-05-18", Figures: stats.Figures{Sessions: 2, Known: 1, Unknown: 1}}
	tests := []struct {
		days []stats.DayFigures
		want string
	}{
		{nil, "Sessions per day, 0 days: 2 sessions, 1 known and 1 unknown."},
		{[]stats.DayFigures{day}, "Sessions per day, 1 day: 2 sessions, 1 known and 1 unknown."},
		{[]stats.DayFigures{day, day}, "Sessions per day, 2 days: 2 sessions, 1 known and 1 unknown."},
	}
	for _, tt := range tests {
		if got := dayChart(tt.days, day.Figures).Label; got != tt.want {
			t.Errorf("dayChart(%d days).Label = %q, want %q", len(tt.days), got, tt.want)
		}
	}
}
