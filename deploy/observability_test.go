package deploy_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestAlertRules checks alerts.yaml as promtool check rules does (rulefmt
// parses every expression and template), and that each alert says what to
// do.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	groups, errs := rulefmt.ParseFile("observability/alerts.yaml", false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("observability/alerts.yaml: %v", err)
	}
	if groups == nil {
		return
	}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" {
				t.Errorf("rule %q in %s is not an alert", r.Record, g.Name)
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[k] == "" {
					t.Errorf("alert %s has no %s", r.Alert, k)
				}
			}
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s has no severity", r.Alert)
			}
		}
	}
	if n < 6 {
		t.Errorf("alerts.yaml has %d alerts, want error rate, signature failures, latency, dead letters, lag and more", n)
	}
}

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name, Type string
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			Type, UID string
		} `json:"datasource"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboard checks dashboard.json: valid JSON of a dashboard whose
// every panel queries the templated Prometheus data source with
// expressions that parse as PromQL.
func TestDashboard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("observability/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 || len(d.Panels) < 8 {
		t.Errorf("dashboard uid %q title %q schema %d with %d panels, want an identified dashboard of the bridge and consumers", d.UID, d.Title, d.SchemaVersion, len(d.Panels))
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Type != "datasource" {
		t.Error("dashboard.json has no data source variable")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %q with %d queries, want ${datasource} and a query", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, q := range p.Targets {
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars(q.Expr)); err != nil {
				t.Errorf("panel %q query %s: %v", p.Title, q.RefID, err)
			}
		}
	}
}

// grafanaVars replaces Grafana's variables with what they stand for.
func grafanaVars(expr string) string {
	return strings.ReplaceAll(expr, "$__rate_interval", "5m")
}

// TestEveryConsumerIsWatched: StorylaneConsumerDown watches the job of every
// workload deploy/kubernetes runs besides the bridge (a job is named after
// its workload, as the bridge's is storylane-bridge; the edge bridges are
// bridges, scraped as job storylane-bridge), so a consumer that stops is
// noticed.
func TestEveryConsumerIsWatched(t *testing.T) {
	t.Parallel()
	groups, errs := rulefmt.ParseFile("observability/alerts.yaml", false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("observability/alerts.yaml: %v", errs)
	}
	var down string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "StorylaneConsumerDown" {
				down = r.Expr
			}
		}
	}
	m := regexp.MustCompile(`up\{job=~"([^"]+)"\} == 0`).FindStringSubmatch(down)
	if m == nil {
		t.Fatalf("StorylaneConsumerDown = %q, want up{job=~\"...\"} == 0", down)
	}
	jobs := regexp.MustCompile("^(?:" + m[1] + ")$")
	for _, w := range render(t).workloads() {
		if w.name != "storylane-bridge" && w.name != "storylane-edge" && !jobs.MatchString(w.name) {
			t.Errorf("StorylaneConsumerDown does not watch %s (job=~%q)", w.name, m[1])
		}
	}
}
