package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/stats"
	"github.com/storylane-bridge/storylane-bridge/internal/stats/statstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func aggregates() *stats.Aggregates {
	a := stats.New()
	for i, s := range []storylane.Session{
		{ID: "1", Name: "Tour", ViewedAt: "2024-05-17T10:00:00Z", Lead: &storylane.Lead{Email: "ada@acme.example", FirstName: "Ada"},
			BuyerReveal: &storylane.BuyerReveal{CompanyName: "=HYPERLINK(\"x\")", CompanyDomain: "acme.example"}},
		{ID: "2", Name: "Tour", ViewedAt: "2024-05-18T10:00:00Z", UTMParams: map[string]string{"utm_source": "google"}},
	} {
		a.Apply(statstest.Event(s.ID, s, uint64(i+1), time.Now()))
	}
	return a
}

func TestRoutes(t *testing.T) {
	srv := httptest.NewServer(Routes(aggregates()))
	t.Cleanup(srv.Close)
	tests := []struct {
		path   string
		status int
		ctype  string
		want   []string // substrings of the body
	}{
		{"/api/overview", 200, "application/json", []string{`"totals":{"sessions":2,"known":1`, `"day":"2024-05-17"`, `"day":"2024-05-18"`}},
		{"/api/overview?from=2024-05-18&to=2024-05-18", 200, "application/json", []string{`"totals":{"sessions":1,"known":0`}},
		{"/api/overview?format=csv", 200, "text/csv", []string{"day,sessions,known,unknown", "\n2024-05-17,1,1,0,1,1,"}},
		{"/api/demos?demo=Tour", 200, "application/json", []string{`"name":"Tour"`, `"sessions":2`}},
		{"/api/campaigns?format=csv", 200, "text/csv", []string{"utm_source,utm_medium,utm_campaign,sessions,known,known_rate\n", ",,,1,1,1\n", "google,,,1,0,0\n"}},
		{"/api/companies?format=csv", 200, "text/csv", []string{`"'=HYPERLINK(""x"")",acme.example,,,1,2024-05-17T10:00:00Z`}},
		{"/api/overview?from=yesterday", 400, "application/json", []string{`"error":"from: `}},
		{"/api/overview?from=2024-05-18&to=2024-05-17", 400, "application/json", []string{"before"}},
		{"/api/overview?format=xml", 400, "application/json", []string{"format"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) {
				t.Errorf("GET %s = %d %s, want %d %s", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.ctype)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("GET %s = %s, want it to hold %q", tt.path, body, w)
				}
			}
			for _, secret := range []string{"ada@", "Ada"} {
				if strings.Contains(string(body), secret) {
					t.Errorf("GET %s shows %q: %s", tt.path, secret, body)
				}
			}
		})
	}
}
