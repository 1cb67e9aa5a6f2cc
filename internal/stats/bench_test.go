package stats

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/stats/statstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// BenchmarkMillion applies 1,000,000 distinct events over 100 demos, 1,000
// campaigns, 90 days and 5,000 companies (a third known), and reports the
// live heap they leave and the apply rate. Not asserted (targets are the
// benchmark suite's); run with
//
//	go test -run '^$' -bench Million -benchtime 1x ./internal/stats/
func BenchmarkMillion(b *testing.B) { benchmarkApply(b, 1_000_000, 90) }

// BenchmarkYear is three million over a year: figures that outgrow a
// fixed memory limit, to compare the collector's settings with
//
//	GOGC=50 go test -run '^$' -bench Year -benchtime 1x ./internal/stats/
//	GOMEMLIMIT=56MiB go test -run '^$' -bench Year -benchtime 1x ./internal/stats/
func BenchmarkYear(b *testing.B) { benchmarkApply(b, 3_000_000, 365) }

func benchmarkApply(b *testing.B, n, days int) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	demos, campaigns := make([]string, 100), make([]map[string]string, 1000)
	for i := range demos {
		demos[i] = "Demo " + strconv.Itoa(i)
	}
	for i := range campaigns {
		campaigns[i] = map[string]string{"utm_source": "src" + strconv.Itoa(i%10), "utm_medium": "cpc", "utm_campaign": "c" + strconv.Itoa(i)}
	}
	for b.Loop() {
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		a := New()
		t0 := time.Now()
		r := rand.New(rand.NewPCG(1, 2))
		for i := range n {
			d := r.IntN(100)
			s := storylane.Session{Name: demos[d], Link: "https://app.storylane.io/demo/" + demos[d],
				ViewedAt:   start.Add(time.Duration(r.IntN(days*86400)) * time.Second).Format(time.RFC3339),
				Completion: json.Number(strconv.Itoa(i % 101)), TimeSpent: json.Number(strconv.Itoa(i % 600)),
				ChecklistCompleted: i%4 == 0, CTAOpened: []string{"", "Book"}[i%2], UTMParams: campaigns[r.IntN(1000)]}
			if i%3 == 0 {
				c := r.IntN(5000)
				s.BuyerReveal = &storylane.BuyerReveal{CompanyName: fmt.Sprint("Co ", c), CompanyDomain: fmt.Sprint("co", c, ".example")}
			}
			a.Apply(statstest.Event("evt-"+strconv.Itoa(i), s, uint64(i+1), start))
		}
		took := time.Since(t0)
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "live-heap-MiB")
		b.ReportMetric(float64(n)/took.Seconds(), "events/s")
		b.ReportMetric(float64(a.utm.len()), "campaign-cells")
		b.ReportMetric(float64(len(a.cells)), "day-demo-cells")
		b.ReportMetric(float64(a.visits.len()), "company-cells")
		runtime.KeepAlive(a)
	}
}
