package stats

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/stats/statstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// dataset applies testdata/sessions.ndjson (s1 to s7, with s1 and s3 each
// delivered twice) and s8, built here because its completion is not a
// number, which no webhook the bridge stores can carry.
func dataset(t *testing.T) *Aggregates {
	t.Helper()
	a := New()
	for _, e := range statstest.Events(t, "testdata/sessions.ndjson") {
		a.Apply(e)
	}
	s8 := storylane.Session{ID: "s8", Name: "Pricing", Link: "https://app.storylane.io/demo/b", ViewedAt: "2024-05-18T12:00:00Z",
		Completion: "n/a", TimeSpent: "-3"}
	a.Apply(statstest.Event("s8-event", s8, 10, time.Date(2024, 5, 18, 12, 0, 1, 0, time.UTC)))
	return a
}

func day(t *testing.T, s string) uint16 {
	t.Helper()
	d, err := ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// completion builds the eleven buckets from their counts.
func completion(counts ...int64) []Bucket {
	var b []Bucket
	for i, n := range counts {
		b = append(b, Bucket{From: i * 10, To: min(i*10+9, 100), Sessions: n})
	}
	return b
}

// The figures below are worked out by hand from the dataset (see the
// comments), not by the code under test.
func TestOverview(t *testing.T) {
	a := dataset(t)
	if got, want := a.Events(), 8; got != want {
		t.Errorf("Events() = %d, want %d", got, want)
	}
	if got, want := a.Seq(), uint64(10); got != want {
		t.Errorf("Seq() = %d, want %d", got, want)
	}
	// 05-17: s1, s3 (+09:00, 23:15 UTC the day before), s5 (viewed_at
	// unreadable: stored 05-17), s6. 05-18: s2 (-08:00, 07:30 UTC the day
	// after), s4 (no viewed_at: stored 05-18), s7 (year 9999, a placeholder: stored), s8.
	may17 := Figures{Sessions: 4, Known: 4, Unknown: 0, KnownRate: 1, Leads: 3,
		Completion:       completion(1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1),                            // 5, 80, 95.5, 100
		CompletionMedian: ptr(80), TimeSpentMedian: ptr[int64](20), TimeSpentP90: ptr[int64](96), // 16.9→16, 20, 30→28, 100→96
		ChecklistRate: 0.5, CTARate: 0.5}
	may18 := Figures{Sessions: 4, Known: 0, Unknown: 4, KnownRate: 0, Leads: 0,
		Completion: completion(0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0), CompletionUnknown: 3, // 45; 250, null, "n/a"
		CompletionMedian: ptr(40), TimeSpentMedian: ptr[int64](0), TimeSpentP90: ptr[int64](12), TimeSpentUnknown: 2, // 0, 12; null, -3
		ChecklistRate: 0, CTARate: 0.25}
	totals := Figures{Sessions: 8, Known: 4, Unknown: 4, KnownRate: 0.5, Leads: 3,
		Completion: completion(1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1), CompletionUnknown: 3,
		CompletionMedian: ptr(80), TimeSpentMedian: ptr[int64](16), TimeSpentP90: ptr[int64](96), TimeSpentUnknown: 2,
		ChecklistRate: 0.25, CTARate: 0.375}
	pricing17 := Figures{Sessions: 1, Known: 1, KnownRate: 1, Leads: 1, Completion: completion(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		CompletionMedian: ptr(0), TimeSpentMedian: ptr[int64](96), TimeSpentP90: ptr[int64](96)}
	tests := []struct {
		name string
		q    Query
		want Overview
	}{
		{"everything", Query{}, Overview{Totals: totals, Days: []DayFigures{{"2024-05-17", may17}, {"2024-05-18", may18}}}},
		{"one day", Query{From: day(t, "2024-05-17"), To: day(t, "2024-05-17")}, Overview{Totals: may17, Days: []DayFigures{{"2024-05-17", may17}}}},
		{"from a day on", Query{From: day(t, "2024-05-18")}, Overview{Totals: may18, Days: []DayFigures{{"2024-05-18", may18}}}},
		{"a demo by name, one day", Query{From: day(t, "2024-05-17"), To: day(t, "2024-05-17"), Demo: "Pricing"},
			Overview{Totals: pricing17, Days: []DayFigures{{"2024-05-17", pricing17}}}},
		{"no such demo", Query{Demo: "nope"}, Overview{Totals: Figures{Completion: completion(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)}, Days: []DayFigures{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Overview(tt.q); !sameJSON(t, got, tt.want) {
				t.Errorf("Overview(%+v) = %s, want %s", tt.q, js(t, got), js(t, tt.want))
			}
		})
	}
}

func TestDemos(t *testing.T) {
	a := dataset(t)
	tour := Demo{Name: "Product Tour", Link: "https://app.storylane.io/demo/a"}
	pricing := Demo{Name: "Pricing", Link: "https://app.storylane.io/demo/b"}
	want := []DemoFigures{
		// s1, s2, s3, s6, s7
		{tour, Figures{Sessions: 5, Known: 3, Unknown: 2, KnownRate: 0.6, Leads: 2,
			Completion: completion(0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1), CompletionUnknown: 1,
			CompletionMedian: ptr(80), TimeSpentMedian: ptr[int64](16), TimeSpentP90: ptr[int64](28), ChecklistRate: 0.4, CTARate: 0.4}},
		// s4, s5, s8
		{pricing, Figures{Sessions: 3, Known: 1, Unknown: 2, KnownRate: 1.0 / 3, Leads: 1,
			Completion: completion(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), CompletionUnknown: 2,
			CompletionMedian: ptr(0), TimeSpentMedian: ptr[int64](96), TimeSpentP90: ptr[int64](96), TimeSpentUnknown: 2, CTARate: 1.0 / 3}},
	}
	if got := a.Demos(Query{}); !sameJSON(t, got, want) {
		t.Errorf("Demos() = %s, want %s", js(t, got), js(t, want))
	}
}

func TestCampaigns(t *testing.T) {
	a := dataset(t)
	tests := []struct {
		name string
		q    Query
		want []CampaignFigures
	}{
		{"everything", Query{}, []CampaignFigures{
			{Campaign{"google", "cpc", "spring"}, 4, 2, 0.5},    // s1, s2, s6, s7
			{Campaign{}, 2, 1, 0.5},                             // s3 (utm_params null), s8 (none)
			{Campaign{"linkedin", "social", "launch"}, 1, 1, 1}, // s5
			{Campaign{"linkedin", "", ""}, 1, 0, 0},             // s4
		}},
		{"a demo by link, one day", Query{From: day(t, "2024-05-18"), To: day(t, "2024-05-18"), Demo: "https://app.storylane.io/demo/a"},
			[]CampaignFigures{{Campaign{"google", "cpc", "spring"}, 2, 0, 0}}}, // s2, s7
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Campaigns(tt.q); !sameJSON(t, got, tt.want) {
				t.Errorf("Campaigns(%+v) = %s, want %s", tt.q, js(t, got), js(t, tt.want))
			}
		})
	}
}

func TestCompanies(t *testing.T) {
	a := dataset(t)
	acme := Company{"Acme Inc", "acme.example", "$10M-$50M", "51-200"}
	globex := Company{"Globex", "globex.example", "", "1000+"}
	tests := []struct {
		name string
		q    Query
		want []CompanyFigures
	}{
		// s1 and s6 (12:00:00.5, to the second); s3 counted once though delivered twice.
		{"everything", Query{}, []CompanyFigures{{acme, 2, "2024-05-17T12:00:00Z"}, {globex, 1, "2024-05-17T23:15:00Z"}}},
		{"a day without", Query{From: day(t, "2024-05-18")}, []CompanyFigures{}},
		{"another demo", Query{Demo: "Pricing"}, []CompanyFigures{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Companies(tt.q); !sameJSON(t, got, tt.want) {
				t.Errorf("Companies(%+v) = %s, want %s", tt.q, js(t, got), js(t, tt.want))
			}
		})
	}
}

func TestApplyOnce(t *testing.T) {
	a := New()
	s := storylane.Session{ID: "x", Name: "d", ViewedAt: "2024-05-17T10:00:00Z"}
	stored := time.Date(2024, 5, 17, 10, 0, 0, 0, time.UTC)
	for i, want := range []bool{true, false, false} {
		if got := a.Apply(statstest.Event("id-1", s, uint64(3-i), stored)); got != want {
			t.Errorf("Apply(delivery %d) = %v, want %v", i+1, got, want)
		}
	}
	if got, want := a.Seq(), uint64(3); got != want {
		t.Errorf("Seq() after an earlier sequence = %d, want %d", got, want)
	}
	if got := a.Overview(Query{}).Totals.Sessions; got != 1 {
		t.Errorf("sessions = %d, want 1", got)
	}
}

// The figures never name a lead: not their e-mail, not their name.
func TestNoLeadIdentity(t *testing.T) {
	a := dataset(t)
	var all bytes.Buffer
	for _, v := range []any{a.Overview(Query{}), a.Demos(Query{}), a.Campaigns(Query{}), a.Companies(Query{})} {
		all.WriteString(js(t, v))
	}
	for _, secret := range []string{"ada@acme.example", "Ada", "Lovelace", "grace@navy.example", "Grace", "Hopper", "alan@", "Alan", "Turing", "l1", "l5"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("the figures show %q: %s", secret, all.String())
		}
	}
}

func TestTimeBuckets(t *testing.T) {
	for _, tt := range []struct{ v, lower uint64 }{{0, 0}, {15, 15}, {16, 16}, {19, 16}, {20, 20}, {31, 28}, {32, 32}, {100, 96}, {1279, 1024}, {1280, 1280}} {
		if got := timeLower(timeBucket(tt.v)); got != tt.lower {
			t.Errorf("timeLower(timeBucket(%d)) = %d, want %d", tt.v, got, tt.lower)
		}
	}
}

func sameJSON(t *testing.T, got, want any) bool { return js(t, got) == js(t, want) }

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
