package api

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/storylane-bridge/storylane-bridge/internal/stats"
)

// web holds every file the page needs: the page asks no other host for
// anything (see csp), so it works offline and leaks no visit.
//
//go:embed web
var web embed.FS

// csp keeps the page to its own origin: no script, style, font or image
// from anywhere else, and no inline script.
const csp = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// topN is how many campaigns the chart shows.
const topN = 10

// view is what the page template renders.
type view struct {
	Query     stats.Query
	From, To  string // the filter as the URL gives it
	Demo      string
	Error     string
	DemoNames []stats.Demo // every demo in the date range, for the filter
	Overview  stats.Overview
	Days      chart
	Funnel    []barRow
	FunnelSVG chart
	Campaigns []barRow
	TopSVG    chart
	Demos     []stats.DemoFigures
	CSVQuery  template.URL // the filter, for the CSV links
}

func newDashboard() *template.Template {
	return template.Must(template.New("dashboard.html").Funcs(template.FuncMap{
		"percent": percent,
		"seconds": func(v *int64) string { return orDash(v, " s") },
		"pct":     func(v *int) string { return orDash(v, " %") },
		"f":       func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	}).ParseFS(web, "web/dashboard.html"))
}

func dashboard(agg *stats.Aggregates) http.Handler {
	page := newDashboard()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := view{From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to"), Demo: r.URL.Query().Get("demo")}
		status := http.StatusOK
		q, err := parseQuery(r)
		if err != nil {
			v.Error, status = err.Error(), http.StatusBadRequest
		} else {
			fill(&v, agg, q)
		}
		var buf bytes.Buffer
		if err := page.Execute(&buf, v); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		setPageHeaders(w, "text/html; charset=utf-8")
		w.WriteHeader(status)
		w.Write(buf.Bytes())
	})
}

func fill(v *view, agg *stats.Aggregates, q stats.Query) {
	v.Query = q
	v.Overview = agg.Overview(q)
	v.Days = dayChart(v.Overview.Days, v.Overview.Totals)
	v.Funnel = funnel(v.Overview.Totals)
	v.FunnelSVG = barChart(funnelLabel(v.Funnel), v.Funnel)
	v.Campaigns = topCampaigns(agg.Campaigns(q), topN)
	v.TopSVG = barChart(campaignsLabel(v.Campaigns), v.Campaigns)
	v.Demos = agg.Demos(q)
	all := q
	all.Demo = ""
	for _, d := range agg.Demos(all) {
		v.DemoNames = append(v.DemoNames, d.Demo)
	}
	v.CSVQuery = template.URL(csvQuery(v.From, v.To, v.Demo))
}

// csvQuery is the filter with format=csv, escaped for a URL.
func csvQuery(from, to, demo string) string {
	var b bytes.Buffer
	b.WriteString("format=csv")
	for _, kv := range [][2]string{{"from", from}, {"to", to}, {"demo", demo}} {
		if kv[1] != "" {
			b.WriteString("&" + kv[0] + "=" + url.QueryEscape(kv[1]))
		}
	}
	return b.String()
}

// asset serves the page's stylesheet or its script, with the type set
// here, not guessed from the machine's mime tables.
func asset(name, ctype string) http.Handler {
	body, err := web.ReadFile("web/" + name)
	if err != nil {
		panic(err) // embedded at build time: a missing file is a build mistake
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w, ctype)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(body)
	})
}

func setPageHeaders(w http.ResponseWriter, ctype string) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func percent(f float64) string {
	return strconv.FormatFloat(f*100, 'f', 0, 64) + " %"
}

func rate(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

func orDash[T int | int64](v *T, unit string) string {
	if v == nil {
		return "–"
	}
	return strconv.FormatInt(int64(*v), 10) + unit
}
