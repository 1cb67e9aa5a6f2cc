package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
)

// The demos of the dashboard tests, as Storylane names them.
var (
	tour    = demo{"Product Tour", "https://app.storylane.io/demo/tour"}
	pricing = demo{"Pricing Walkthrough", "https://app.storylane.io/demo/pricing"}
)

type demo struct{ name, link string }

// visit is one demo session, as a webhook tells it.
type visit struct {
	id       string
	demo     demo
	viewedAt string
	lead     bool   // a lead: known, and an e-mail that must never show
	company  string // buyer_reveal's company_name, "" for none; known too
	complete int    // completion, percent
	seconds  int    // time_spent
	check    bool   // checklist_completed
	cta      string // cta_opened
	utm      [3]string
}

func (v visit) body() []byte {
	s := map[string]any{"id": v.id, "name": v.demo.name, "link": v.demo.link, "viewed_at": v.viewedAt,
		"completion": v.complete, "time_spent": v.seconds, "checklist_completed": v.check, "lead": nil, "buyer_reveal": nil,
		"cta_opened": nil, "analytics_url": "https://app.storylane.io/analytics/activity/" + v.id}
	if v.lead {
		s["lead"] = map[string]any{"id": "lead-" + v.id, "email": v.id + "@lead.example", "first_name": "Secret", "last_name": "Person"}
	}
	if v.company != "" {
		domain := strings.ToLower(strings.Fields(v.company)[0]) + ".example"
		s["buyer_reveal"] = map[string]string{"company_name": v.company, "company_domain": domain,
			"company_annual_revenue_range": "$10M-$50M", "company_employee_range": "51-200"}
	}
	if v.cta != "" {
		s["cta_opened"] = v.cta
	}
	if v.utm != [3]string{} {
		s["utm_params"] = map[string]string{"utm_source": v.utm[0], "utm_medium": v.utm[1], "utm_campaign": v.utm[2]}
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // only strings, numbers and maps of them
	}
	return b
}

var (
	spring = [3]string{"google", "cpc", "spring"}
	launch = [3]string{"linkedin", "social", "launch"}
)

// dashboardVisits are sent before the page loads: two demos over two days
// (s4 is viewed on the 17th in California, the 18th in UTC, where it
// counts), known by a lead, by a revealed company or both.
var dashboardVisits = []visit{
	{id: "s1", demo: tour, viewedAt: "2024-05-17T09:00:00Z", lead: true, company: "Acme Inc", complete: 100, seconds: 96, check: true, cta: "Book a call", utm: spring},
	{id: "s2", demo: tour, viewedAt: "2024-05-17T11:00:00Z", complete: 40, seconds: 32, utm: spring},
	{id: "s3", demo: pricing, viewedAt: "2024-05-17T15:00:00Z", lead: true, complete: 80, seconds: 64, utm: launch},
	{id: "s4", demo: tour, viewedAt: "2024-05-17T23:30:00-08:00", complete: 5, seconds: 12},
	{id: "s5", demo: pricing, viewedAt: "2024-05-18T10:00:00Z", company: "Globex Corp", complete: 95, seconds: 192, check: true, cta: "Talk to sales", utm: launch},
	{id: "s6", demo: pricing, viewedAt: "2024-05-18T12:00:00Z", complete: 60, seconds: 128, utm: spring},
}

// newDemoVisit is of a demo no other visit is of, sent while the page
// shows every demo.
var newDemoVisit = visit{id: "s8", demo: demo{"Security Review", "https://app.storylane.io/demo/security"},
	viewedAt: "2024-05-18T17:00:00Z", complete: 20, seconds: 16}

// liveVisit is sent while the page is open.
var liveVisit = visit{id: "s7", demo: pricing, viewedAt: "2024-05-18T16:00:00Z", lead: true, complete: 100, seconds: 160, utm: spring}

// dashboardView is what the page shows: the totals, each chart's role and
// ARIA label, and the cells of each table (a cell's parts joined by " | ").
type dashboardView struct {
	Totals    []string   `json:"totals"`
	Charts    []string   `json:"charts"`
	Days      [][]string `json:"days"`
	Funnel    [][]string `json:"funnel"`
	Campaigns [][]string `json:"campaigns"`
	Demos     [][]string `json:"demos"`
}

const readView = `(() => {
  const cell = c => [...c.childNodes].map(n => n.textContent.trim()).filter(Boolean).join(" | ");
  const rows = id => [...document.querySelectorAll(id + " tbody tr")].map(r => [...r.cells].map(cell));
  return {
    totals: [...document.querySelectorAll(".totals p")].map(p => p.textContent.replace(/\s+/g, " ").trim()),
    charts: [...document.querySelectorAll("svg")].map(s => s.getAttribute("role") + ": " + s.getAttribute("aria-label")),
    days: rows("#days"), funnel: rows("#funnel"), campaigns: rows("#campaigns"), demos: rows("#demos"),
  };
})()`

// By hand, from dashboardVisits. Completion 100, 40, 80, 5, 95, 60: the
// third of six is in 60-69; Product Tour's time 96, 32, 12: median 32, p90
// 96; Pricing Walkthrough's 64, 192, 128.
var wantAll = dashboardView{
	Totals: []string{"6 sessions", "3 known (50 %)", "3 unknown", "60 % median completion", "33 % opened a CTA"},
	Charts: []string{
		"img: Sessions per day, 2 days: 6 sessions, 3 known and 3 unknown.",
		"img: Completion funnel: All sessions 6, ≥ 10 % 5, ≥ 50 % 4, ≥ 90 % 2, 100 % 1.",
		"img: Top campaigns by known sessions: linkedin / social / launch 2 of 2, google / cpc / spring 1 of 3, (no utm parameters) 0 of 1.",
	},
	Days: [][]string{{"2024-05-17", "3", "2", "1", "67 %"}, {"2024-05-18", "3", "1", "2", "33 %"}},
	Funnel: [][]string{{"All sessions", "6", "100 %"}, {"≥ 10 %", "5", "83 %"}, {"≥ 50 %", "4", "67 %"},
		{"≥ 90 %", "2", "33 %"}, {"100 %", "1", "17 %"}},
	Campaigns: [][]string{{"linkedin / social / launch", "2", "2", "100 %"}, {"google / cpc / spring", "1", "3", "33 %"},
		{"(no utm parameters)", "0", "1", "0 %"}},
	Demos: [][]string{
		{"Pricing Walkthrough | https://app.storylane.io/demo/pricing", "3", "2", "67 %", "80 %", "128 s", "192 s", "33 %", "33 %"},
		{"Product Tour | https://app.storylane.io/demo/tour", "3", "1", "33 %", "40 %", "32 s", "96 s", "33 %", "33 %"},
	},
}

// The 18th, Pricing Walkthrough: s5 and s6.
var wantFiltered = dashboardView{
	Totals: []string{"2 sessions", "1 known (50 %)", "1 unknown", "60 % median completion", "50 % opened a CTA"},
	Charts: []string{
		"img: Sessions per day, 1 day: 2 sessions, 1 known and 1 unknown.",
		"img: Completion funnel: All sessions 2, ≥ 10 % 2, ≥ 50 % 2, ≥ 90 % 1, 100 % 0.",
		"img: Top campaigns by known sessions: linkedin / social / launch 1 of 1, google / cpc / spring 0 of 1.",
	},
	Days: [][]string{{"2024-05-18", "2", "1", "1", "50 %"}},
	Funnel: [][]string{{"All sessions", "2", "100 %"}, {"≥ 10 %", "2", "100 %"}, {"≥ 50 %", "2", "100 %"},
		{"≥ 90 %", "1", "50 %"}, {"100 %", "0", "0 %"}},
	Campaigns: [][]string{{"linkedin / social / launch", "1", "1", "100 %"}, {"google / cpc / spring", "0", "1", "0 %"}},
	Demos: [][]string{
		{"Pricing Walkthrough | https://app.storylane.io/demo/pricing", "2", "1", "50 %", "60 %", "128 s", "192 s", "50 %", "50 %"},
	},
}

// The same filter once liveVisit (s7) is in: completion 95, 60, 100.
var wantLive = dashboardView{
	Totals: []string{"3 sessions", "2 known (67 %)", "1 unknown", "90 % median completion", "33 % opened a CTA"},
	Charts: []string{
		"img: Sessions per day, 1 day: 3 sessions, 2 known and 1 unknown.",
		"img: Completion funnel: All sessions 3, ≥ 10 % 3, ≥ 50 % 3, ≥ 90 % 2, 100 % 1.",
		"img: Top campaigns by known sessions: google / cpc / spring 1 of 2, linkedin / social / launch 1 of 1.",
	},
	Days: [][]string{{"2024-05-18", "3", "2", "1", "67 %"}},
	Funnel: [][]string{{"All sessions", "3", "100 %"}, {"≥ 10 %", "3", "100 %"}, {"≥ 50 %", "3", "100 %"},
		{"≥ 90 %", "2", "67 %"}, {"100 %", "1", "33 %"}},
	Campaigns: [][]string{{"google / cpc / spring", "1", "2", "50 %"}, {"linkedin / social / launch", "1", "1", "100 %"}},
	Demos: [][]string{
		{"Pricing Walkthrough | https://app.storylane.io/demo/pricing", "3", "2", "67 %", "90 %", "160 s", "192 s", "33 %", "33 %"},
	},
}

// TestDashboardInChromium: a real bridge on its embedded broker and a real
// session-stats behind it; signed webhooks sent; the dashboard loaded in
// headless Chromium shows, in its tables and its charts' ARIA labels, the
// figures worked out by hand; its filter, set through the form, is in the
// URL and changes them; a webhook sent while the page is open shows without
// a reload; a phone's width needs no sideways scrolling; no lead is shown;
// and the page asks no other host for anything and logs no error. The
// full-page screenshot goes to $STATS_SCREENSHOT, or the test's directory.
func TestDashboardInChromium(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	webhooks, dashboard := statsDashboard(t)
	for _, v := range append(dashboardVisits, dashboardVisits[0]) { // s1 delivered twice
		if code := post(t, webhooks, v.body(), nil); code != http.StatusOK {
			t.Fatalf("POST %s = %d, want 200", v.body(), code)
		}
	}
	waitCounted(t, dashboard, 6)

	tb := openTab(t, chromium, 1280, 900)
	tb.do(t, 30*time.Second, chromedp.Navigate(dashboard+"/"), chromedp.WaitVisible(chromedp.ID("demos")))
	checkView(t, tb, "all", wantAll)
	var labels []string
	for _, c := range wantAll.Charts {
		labels = append(labels, strings.TrimPrefix(c, "img: "))
	}
	if got := tb.accessibleNames(t, "image"); !reflect.DeepEqual(got, labels) {
		t.Errorf("images in the accessibility tree = %q, want the charts %q", got, labels)
	}
	if text := eval[string](t, tb, `document.body.textContent`); strings.Contains(text, "@lead.example") || strings.Contains(text, "Secret") {
		t.Errorf("the page shows a lead: %s", text)
	}

	filter(t, tb, "05182024", "05182024", pricing.link)
	checkFilterInURL(t, tb, url.Values{"from": {"2024-05-18"}, "to": {"2024-05-18"}, "demo": {pricing.link}})
	checkView(t, tb, "filtered", wantFiltered)

	// Open a table, as a reader would, and mark the document: a reload
	// would lose both.
	tb.do(t, 10*time.Second, chromedp.Click(chromedp.CSS("details:has(#days) > summary")), chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`))
	if code := post(t, webhooks, liveVisit.body(), nil); code != http.StatusOK {
		t.Fatalf("POST %s = %d, want 200", liveVisit.body(), code)
	}
	// The page checks every 5 s: 30 s is six chances.
	tb.do(t, 30*time.Second, chromedp.Poll[chromedp.Void](`document.getElementById("live").dataset.sessions === "3"`))
	checkView(t, tb, "live", wantLive)
	if !eval[bool](t, tb, `window.sameDocument === true && document.querySelector("details:has(#days)").open`) {
		t.Error("the live update reloaded the page or closed the open table")
	}
	if status := eval[string](t, tb, `document.getElementById("status").textContent`); !strings.HasPrefix(status, "Live: figures as of") {
		t.Errorf("status line = %q, want the time of the last check", status)
	}

	// A demo first seen while the page is open joins the filter's list.
	tb.do(t, 30*time.Second, chromedp.Navigate(dashboard+"/"), chromedp.WaitVisible(chromedp.ID("demos")),
		chromedp.Evaluate[chromedp.Void](`window.sameDocument = true`))
	if code := post(t, webhooks, newDemoVisit.body(), nil); code != http.StatusOK {
		t.Fatalf("POST %s = %d, want 200", newDemoVisit.body(), code)
	}
	hasNewDemo := fmt.Sprintf(`Array.from(document.querySelectorAll("select[name=demo] option")).some(o => o.value === %q && o.textContent === %q)`,
		newDemoVisit.demo.link, newDemoVisit.demo.name)
	tb.do(t, 30*time.Second, chromedp.Poll[chromedp.Void](hasNewDemo))
	if !eval[bool](t, tb, `window.sameDocument === true`) {
		t.Error("the demo list's update reloaded the page")
	}
	if picked := eval[string](t, tb, `document.querySelector("select[name=demo]").value`); picked != "" {
		t.Errorf("the demo picked after the list's update = %q, want all demos still", picked)
	}

	screenshot(t, tb, os.Getenv("STATS_SCREENSHOT"))
	checkPhoneWidth(t, tb)
	tb.checkOnlyOrigin(t, dashboard)
}

// statsDashboard runs the bridge on its embedded broker and session-stats
// reading it, and returns the bridge's base URL and the dashboard's origin.
func statsDashboard(t *testing.T) (webhooks, dashboard string) {
	t.Helper()
	natsURL, webhooks, _ := contractBridge(t)
	p := clitest.StartProcess(t, binary("session-stats"), []string{"NATS_URL=" + natsURL},
		"--listen", "127.0.0.1:0", "--state-dir", t.TempDir())
	return webhooks, "http://" + p.Logs.Wait(t, "api listening")["addr"].(string)
}

func checkView(t *testing.T, tb *tab, name string, want dashboardView) {
	t.Helper()
	got := eval[dashboardView](t, tb, readView)
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			t.Errorf("%s: %s shown = %q, want %q", name, g.Type().Field(i).Name, g.Field(i).Interface(), w.Field(i).Interface())
		}
	}
}

// filter types the dates as a reader would, with the keyboard (typed is
// MMDDYYYY, the order of an en-US date field), then picks the demo: a
// change of the select submits the form (dashboard.js). It waits for the
// new page.
func filter(t *testing.T, tb *tab, fromTyped, toTyped, demo string) {
	t.Helper()
	tb.do(t, 30*time.Second,
		chromedp.SendKeys(chromedp.CSS("input[name=from]"), fromTyped),
		chromedp.SendKeys(chromedp.CSS("input[name=to]"), toTyped),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.SetValue(chromedp.CSS("select[name=demo]"), demo))(ctx, tg)
			return err
		}),
		chromedp.WaitVisible(chromedp.ID("demos")))
}

// checkFilterInURL: the page's address carries the filter, and the form
// shows it again.
func checkFilterInURL(t *testing.T, tb *tab, want url.Values) {
	t.Helper()
	loc := eval[string](t, tb, `location.href`)
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	for k := range want {
		if got := u.Query().Get(k); got != want.Get(k) {
			t.Errorf("after filtering, the URL %s has %s=%q, want %q", loc, k, got, want.Get(k))
		}
		if got := eval[string](t, tb, fmt.Sprintf(`document.querySelector("[name=%s]").value`, k)); got != want.Get(k) {
			t.Errorf("after filtering, the form's %s = %q, want %q", k, got, want.Get(k))
		}
	}
}

// screenshot writes a full-page PNG to path, or into the test's directory.
func screenshot(t *testing.T, tb *tab, path string) {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "session-stats.png")
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if height := eval[int](t, tb, `document.documentElement.scrollHeight`); img.Bounds().Dy() < height {
		t.Errorf("screenshot is %v, want the whole page's %d px height", img.Bounds(), height)
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// checkPhoneWidth: on a phone's screen the page scrolls only downwards.
func checkPhoneWidth(t *testing.T, tb *tab) {
	t.Helper()
	tb.do(t, 10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	if w := eval[[]int](t, tb, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		t.Errorf("at 390 px the page is %d px wide, want no sideways scrolling", w[0])
	}
}
