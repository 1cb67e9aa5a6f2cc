// Package loadgen drives load at a bridge, or straight at JetStream, and
// measures it: closed-loop (fixed concurrency, as fast as answers come) or
// open-loop (a fixed arrival rate, latency measured from each request's
// intended start so that a stall is not hidden by coordinated omission),
// latencies in an HDR histogram.
package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Payloads makes realistic Storylane webhook bodies: each with a session id
// of its own, about size bytes, known with probability knownRatio.
type Payloads struct {
	run        string
	size       int
	knownRatio float64
}

// NewPayloads returns a generator; run makes its session ids unique to this
// run.
func NewPayloads(run string, size int, knownRatio float64) *Payloads {
	return &Payloads{run: run, size: size, knownRatio: knownRatio}
}

// demo names one of a few demos, as a real account has.
func demo(i int) string {
	switch i % 4 {
	case 0:
		return "Product Demo"
	case 1:
		return "Onboarding tour"
	case 2:
		return "Analytics deep dive"
	}
	return "Pricing walkthrough"
}

// Body returns payload number i; rng decides what it holds.
func (p *Payloads) Body(i int, rng *rand.Rand) []byte {
	known := rng.Float64() < p.knownRatio
	lead, company := "null", "null"
	if known {
		lead = fmt.Sprintf(`{"id":"lead-%s-%d","client_source":"form","client_tracking_id":null,"email":"visitor%d@example.com","first_name":"Sam","last_name":"Doe"}`, p.run, i, i)
		company = `{"company_name":"Acme Inc","company_domain":"example.com","company_annual_revenue_range":"1M-10M","company_employee_range":"11-50"}`
	}
	viewed := time.Now().UTC().Add(-time.Duration(rng.IntN(3600)) * time.Second).Format("2006-01-02T15:04:05.000+00:00")
	head := fmt.Sprintf(`{"id":"%s-%d","buyer_reveal":%s,"lead":%s,"name":%q,"link":"https://app.storylane.io/share/aejr8lqfghlp","viewed_at":%q,"completion":%d,"time_spent":%d,"checklist_completed":%t,"cta_opened":"https://example.com","analytics_url":"https://app.storylane.io/analytics/activity/%s-%d","utm_params":{"gclid":"123xyz","utm_source":"source","utm_medium":"medium","utm_campaign":"campaign","utm_term":"term","utm_content":"`,
		p.run, i, company, lead, demo(i), viewed, rng.IntN(101), rng.IntN(900), rng.IntN(2) == 0, p.run, i)
	pad := max(p.size-len(head)-3, 1)
	return []byte(head + strings.Repeat("x", pad) + `"}}`)
}
