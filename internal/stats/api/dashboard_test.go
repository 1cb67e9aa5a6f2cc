package api

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/stats"
	"github.com/storylane-bridge/storylane-bridge/internal/stats/statstest"
)

// dataset applies internal/stats' testdata/sessions.ndjson: s1 to s7, s1
// and s3 each delivered twice. By hand: 2024-05-17 holds s1, s3, s5 and
// s6, all known; 2024-05-18 holds s2, s4 and s7, all unknown. Product
// Tour is s1, s2, s3, s6, s7 (3 known), Pricing s4 and s5 (1 known).
// Completion: s5 5, s2 45, s3 80, s6 95.5, s1 100; s4 (250) and s7 (null)
// unknown.
func dataset(t *testing.T) *stats.Aggregates {
	t.Helper()
	a := stats.New()
	for _, e := range statstest.Events(t, "../testdata/sessions.ndjson") {
		a.Apply(e)
	}
	return a
}

// The figures below are the dataset's, worked out by hand (see dataset).
func TestDashboard(t *testing.T) {
	srv := httptest.NewServer(Routes(dataset(t)))
	t.Cleanup(srv.Close)
	tests := []struct {
		name   string
		query  string
		status int
		want   []string
		absent []string
	}{
		{"everything", "", 200, []string{
			`data-sessions="7" data-known="4"`,
			`aria-label="Sessions per day, 2 days: 7 sessions, 4 known and 3 unknown."`,
			`<tr><th scope="row">2024-05-17</th><td>4</td><td>4</td><td>0</td><td>100 %</td></tr>`,
			`<tr><th scope="row">2024-05-18</th><td>3</td><td>0</td><td>3</td><td>0 %</td></tr>`,
			`aria-label="Completion funnel: All sessions 7, ≥ 10 % 4, ≥ 50 % 3, ≥ 90 % 2, 100 % 1."`,
			`<tr><th scope="row">≥ 50 %</th><td>3</td><td>43 %</td></tr>`,
			`<tr><th scope="row">100 %</th><td>1</td><td>14 %</td></tr>`,
			`<tr><th scope="row">google / cpc / spring</th><td>2</td><td>4</td><td>50 %</td></tr>`,
			`<tr><th scope="row">(no utm parameters)</th><td>1</td><td>1</td><td>100 %</td></tr>`,
			`<tr><th scope="row">linkedin / – / –</th><td>0</td><td>1</td><td>0 %</td></tr>`,
			`<tr><th scope="row">Product Tour<small>https://app.storylane.io/demo/a</small></th><td>5</td><td>3</td><td>60 %</td><td>80 %</td><td>16 s</td><td>28 s</td><td>40 %</td><td>40 %</td></tr>`,
			`<tr><th scope="row">Pricing<small>https://app.storylane.io/demo/b</small></th><td>2</td><td>1</td><td>50 %</td><td>0 %</td><td>96 s</td><td>96 s</td><td>0 %</td><td>50 %</td></tr>`,
			`<option value="https://app.storylane.io/demo/b">Pricing</option>`,
		}, nil},
		{"from a day", "?from=2024-05-18", 200, []string{
			`data-sessions="3" data-known="0"`,
			`<tr><th scope="row">2024-05-18</th><td>3</td><td>0</td><td>3</td><td>0 %</td></tr>`,
			`<tr><th scope="row">google / cpc / spring</th><td>0</td><td>2</td><td>0 %</td></tr>`,
			`<input type="date" name="from" value="2024-05-18">`,
			`href="/api/overview?format=csv&amp;from=2024-05-18"`,
		}, []string{`<th scope="row">2024-05-17</th>`, `(no utm parameters)</th>`}},
		{"a demo by name", "?demo=Pricing", 200, []string{
			`data-sessions="2" data-known="1"`,
			`<tr><th scope="row">2024-05-17</th><td>1</td><td>1</td><td>0</td><td>100 %</td></tr>`,
			`<tr><th scope="row">2024-05-18</th><td>1</td><td>0</td><td>1</td><td>0 %</td></tr>`,
			`<tr><th scope="row">≥ 10 %</th><td>0</td><td>0 %</td></tr>`,
			`<option value="https://app.storylane.io/demo/b" selected>Pricing</option>`,
			`<option value="https://app.storylane.io/demo/a">Product Tour</option>`,
		}, []string{`<th scope="row">Product Tour<small>`}},
		{"a demo by link, to a day", "?demo=https%3A%2F%2Fapp.storylane.io%2Fdemo%2Fa&to=2024-05-17", 200, []string{
			`data-sessions="3" data-known="3"`,
			`<tr><th scope="row">2024-05-17</th><td>3</td><td>3</td><td>0</td><td>100 %</td></tr>`,
			`<option value="https://app.storylane.io/demo/a" selected>Product Tour</option>`,
		}, []string{`<th scope="row">2024-05-18</th>`, `<th scope="row">Pricing<small>`}},
		{"no such demo", "?demo=nope", 200, []string{
			`data-sessions="0" data-known="0"`,
			`aria-label="Sessions per day, 0 days: 0 sessions, 0 known and 0 unknown."`,
			`text-anchor="middle">No sessions</text>`,
			`aria-label="Top campaigns by known sessions: none."`,
			`<tr><th scope="row">All sessions</th><td>0</td><td>0 %</td></tr>`,
		}, []string{`<rect`, `<th scope="row">2024-05-17</th>`}},
		{"a filter that does not parse", "?from=%3Cscript%3Ealert(1)%3C/script%3E", 400, []string{
			`role="alert">This filter cannot be read: from: day &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;: want YYYY-MM-DD`,
			`name="from" value="&lt;script&gt;alert(1)&lt;/script&gt;"`,
		}, []string{"<script>alert", `<table`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := clitest.Get(t, srv.URL+"/"+tt.query)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("GET /%s = %d %s, want %d text/html", tt.query, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET /%s = %s\nwant it to hold %s", tt.query, body, w)
				}
			}
			for _, a := range append(tt.absent, "ada@", "grace@", "alan@", "Lovelace", "Hopper", "Turing", "Grace", "Alan") {
				if strings.Contains(body, a) {
					t.Errorf("GET /%s holds %q", tt.query, a)
				}
			}
			for _, m := range reference.FindAllStringSubmatch(body, -1) {
				if !strings.HasPrefix(m[2], "/") || strings.HasPrefix(m[2], "//") {
					t.Errorf("GET /%s refers to %s=%q, want a path on this host", tt.query, m[1], m[2])
				}
			}
		})
	}
}

// reference is an attribute by which a page makes the browser fetch or go.
var reference = regexp.MustCompile(`\b(src|href|action)="([^"]*)"`)

func TestDashboardHeaders(t *testing.T) {
	srv := httptest.NewServer(Routes(dataset(t)))
	t.Cleanup(srv.Close)
	tests := []struct {
		path, ctype, want string
	}{
		{"/", "text/html; charset=utf-8", `<svg role="img"`},
		{"/assets/dashboard.js", "text/javascript; charset=utf-8", `fetch("/api/overview"`},
		{"/assets/dashboard.css", "text/css; charset=utf-8", ".chart .known"},
		// The page names its icon: without one a browser asks for
		// /favicon.ico, and logs the 404 on every load.
		{"/", "text/html; charset=utf-8", `<link rel="icon" href="/assets/icon.png">`},
		{"/assets/icon.png", "image/png", "\x89PNG\r\n"},
	}
	for _, tt := range tests {
		resp, body := clitest.Get(t, srv.URL+tt.path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.ctype {
			t.Errorf("GET %s = %d %q, want 200 %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.ctype)
		}
		if got := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(got, "default-src 'self';") {
			t.Errorf("GET %s: Content-Security-Policy = %q, want default-src 'self' first", tt.path, got)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options = %q, want nosniff", tt.path, got)
		}
		if !strings.Contains(body, tt.want) {
			t.Errorf("GET %s = %s, want it to hold %q", tt.path, body, tt.want)
		}
	}
	if resp, _ := clitest.Get(t, srv.URL+"/assets/dashboard.html"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /assets/dashboard.html = %d, want 404: only the page's assets are served", resp.StatusCode)
	}
}

// TestNoOtherHost holds every embedded file to the page's promise of no
// request to another host: not one absolute URL, not even an SVG xmlns.
func TestNoOtherHost(t *testing.T) {
	var n int
	err := fs.WalkDir(web, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(web, p)
		if err != nil {
			return err
		}
		for _, bad := range []string{"http://", "https://", "url(", "@import"} {
			if i := strings.Index(strings.ToLower(string(b)), bad); i >= 0 {
				t.Errorf("%s holds %q at byte %d", p, bad, i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("embedded files = %d, want 4 (page, CSS, JS, icon)", n)
	}
}
