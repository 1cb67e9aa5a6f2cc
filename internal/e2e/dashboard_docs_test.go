package e2e_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardDocsScreenshot writes the dashboard's picture in
// docs/images: a week of made-up traffic, a few hundred sessions over four
// demos and several campaigns, shown in headless Chromium. It runs only
// when STATS_DOCS_SCREENSHOT names the file to write, from the module root:
//
//	STATS_DOCS_SCREENSHOT=$PWD/docs/images/session-stats.png go test -run TestDashboardDocsScreenshot ./internal/e2e
func TestDashboardDocsScreenshot(t *testing.T) {
	path := os.Getenv("STATS_DOCS_SCREENSHOT")
	if path == "" {
		t.Skip("writes docs/images/session-stats.png; set STATS_DOCS_SCREENSHOT to the file to write")
	}
	chromium := chromiumPath(t)
	webhooks, dashboard := statsDashboard(t)
	visits := weekOfVisits(360)
	for _, v := range visits {
		if code := post(t, webhooks, v.body(), nil); code != http.StatusOK {
			t.Fatalf("POST %s = %d, want 200", v.body(), code)
		}
	}
	waitCounted(t, dashboard, int64(len(visits)))
	tb := openTab(t, chromium, 1280, 900)
	tb.do(t, 30*time.Second, chromedp.Navigate(dashboard+"/"), chromedp.WaitVisible(chromedp.ID("demos")))
	screenshot(t, tb, path)
	tb.checkOnlyOrigin(t, dashboard)
}

// weekOfVisits makes n sessions from 2024-05-13 to 2024-05-19, the same
// ones every time (a fixed seed), with weekdays busier than the weekend.
func weekOfVisits(n int) []visit {
	r := rand.New(rand.NewPCG(14, 14))
	demos := []demo{tour, pricing, {"Onboarding Checklist", "https://app.storylane.io/demo/onboarding"},
		{"Integrations Overview", "https://app.storylane.io/demo/integrations"}}
	campaigns := [][3]string{{}, spring, launch, {"newsletter", "email", "may-digest"}, {"google", "cpc", "brand"},
		{"partner", "referral", "q2-partners"}, {"linkedin", "cpc", "retargeting"}}
	companies := []string{"Acme Inc", "Globex Corp", "Initech", "Umbrella Labs", "Hooli", "Stark Industries", "Wayne Enterprises"}
	ctas := []string{"Book a call", "Start a trial", "Talk to sales"}
	weights := []int{5, 6, 6, 5, 4, 2, 1} // Monday to Sunday
	out := make([]visit, 0, n)
	for i := range n {
		day := pick(r, weights)
		at := time.Date(2024, 5, 13+day, 7+r.IntN(12), r.IntN(60), 0, 0, time.UTC)
		v := visit{id: fmt.Sprintf("doc-%d", i), demo: demos[pick(r, []int{5, 4, 2, 1})], viewedAt: at.Format(time.RFC3339),
			complete: min(100, r.IntN(115)), seconds: 10 + r.IntN(300), utm: campaigns[pick(r, []int{6, 4, 3, 3, 2, 1, 2})]}
		v.lead = r.IntN(3) == 0
		if r.IntN(4) == 0 {
			v.company = companies[r.IntN(len(companies))]
		}
		v.check = v.complete == 100 && r.IntN(2) == 0
		if v.complete > 60 && r.IntN(3) == 0 {
			v.cta = ctas[r.IntN(len(ctas))]
		}
		out = append(out, v)
	}
	return out
}

// pick draws an index with the given weights.
func pick(r *rand.Rand, weights []int) int {
	var sum int
	for _, w := range weights {
		sum += w
	}
	n := r.IntN(sum)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}
