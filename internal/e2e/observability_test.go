package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

// queriedMetrics lists the metrics the alert rules and the dashboard in
// deploy/observability query.
func queriedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	var exprs []string
	b, err := os.ReadFile("../../deploy/observability/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Expr string } `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	b, err = os.ReadFile("../../deploy/observability/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, strings.ReplaceAll(q.Expr, "$__rate_interval", "5m"))
		}
	}
	names := map[string]bool{}
	for _, e := range exprs {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(e)
		if err != nil {
			t.Fatalf("%q: %v", e, err)
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "up" {
				names[vs.Name] = true
			}
			return nil
		})
	}
	return names
}

// TestObservabilityQueriesExistingMetrics runs the bridge (also in edge mode) and the
// consumers, makes them do some work, and checks that every metric the
// alerts and the dashboard query is one they expose: a renamed metric
// would otherwise leave an alert that can never fire.
func TestObservabilityQueriesExistingMetrics(t *testing.T) {
	t.Parallel()
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer crm.Close()
	bridge := clitest.StartProcess(t, binary("storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET=" + secret, "BRIDGE_DATA_DIR=" + t.TempDir()},
		"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	natsURL := bridge.Logs.Wait(t, "embedded nats started")["client_url"].(string)
	bridgeAdmin := bridge.Logs.Wait(t, "admin listening")["addr"].(string)
	url := "http://" + bridge.Logs.Wait(t, "listening")["addr"].(string)
	// The edge alerts query metrics only a bridge in edge mode exposes.
	hub := natstest.StartHub(t)
	edge := clitest.StartProcess(t, binary("storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET=" + secret, "BRIDGE_DATA_DIR=" + t.TempDir()},
		"--listen", "127.0.0.1:0", "--nats-listen", "none", "--admin-listen", "127.0.0.1:0", "--leaf-remote", hub.LeafURL(), "--edge-name", "e2e")
	edgeAdmin := edge.Logs.Wait(t, "admin listening")["addr"].(string)
	env := []string{"NATS_URL=" + natsURL}
	sync := clitest.StartProcess(t, binary("lead-sync"), env, "--target-url", crm.URL, "--admin-listen", "127.0.0.1:0")
	syncAdmin := sync.Logs.Wait(t, "admin listening")["addr"].(string)
	arch := clitest.StartProcess(t, binary("session-archive"), env, "--dir", t.TempDir(), "--admin-listen", "127.0.0.1:0")
	archAdmin := arch.Logs.Wait(t, "admin listening")["addr"].(string)
	sync.Logs.Wait(t, "consuming")
	stats := clitest.StartProcess(t, binary("session-stats"), env, "--state-dir", t.TempDir(), "--listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0")
	statsAdmin := stats.Logs.Wait(t, "admin listening")["addr"].(string)
	arch.Logs.Wait(t, "consuming")
	for i := range 4 {
		send(t, url, natstest.SessionBody(60000+i, i%2 == 0))
	}
	if res, err := http.Post(url+"/webhooks/storylane", "application/json", strings.NewReader(`{"id":"unsigned"}`)); err == nil {
		res.Body.Close()
	}

	scrape := func() string {
		var all strings.Builder
		for _, a := range []string{bridgeAdmin, edgeAdmin, syncAdmin, archAdmin, statsAdmin} {
			res, err := http.Get("http://" + a + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			all.Write(b)
		}
		return all.String()
	}
	var missing []string
	if !poll.Within(20*time.Second, func() bool {
		exposed := scrape()
		missing = missing[:0]
		for name := range queriedMetrics(t) {
			if !strings.Contains(exposed, "\n"+name+"{") && !strings.Contains(exposed, "\n"+name+" ") {
				missing = append(missing, name)
			}
		}
		return len(missing) == 0
	}) {
		t.Errorf("deploy/observability queries metrics no program exposes: %v", missing)
	}
	for _, p := range []*clitest.Process{sync, arch, stats, bridge, edge} {
		p.Signal(t, syscall.SIGTERM)
		p.Exit(t)
	}
}
