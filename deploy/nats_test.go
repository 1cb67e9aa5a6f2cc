package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	"sigs.k8s.io/yaml"
)

// natsEnv sets what deploy/nats reads from the environment, each password
// to a value naming its variable.
func natsEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{"NATS_ROUTE_PASSWORD", "NATS_BRIDGE_PASSWORD", "NATS_LEAD_SYNC_PASSWORD", "NATS_SESSION_ARCHIVE_PASSWORD",
		"NATS_SESSION_STATS_PASSWORD", "NATS_ADMIN_PASSWORD", "NATS_SYS_PASSWORD"} {
		t.Setenv(v, "env:"+v)
	}
	for k, v := range map[string]string{"NATS_SERVER_NAME": "nats-1", "NATS_HOST": "127.0.0.1", "NATS_CLIENT_PORT": "4222",
		"NATS_CLUSTER_PORT": "6222", "NATS_MONITOR_PORT": "8222", "NATS_STORE_DIR": t.TempDir(),
		"NATS_ROUTES": "[nats://route:pw@127.0.0.1:6222, nats://route:pw@127.0.0.1:6223, nats://route:pw@127.0.0.1:6224]"} {
		t.Setenv(k, v)
	}
}

// TestNATSConfigLoads loads deploy/nats/nats.conf as nats-server -c does
// and checks the settings the product relies on.
func TestNATSConfigLoads(t *testing.T) {
	natsEnv(t)
	opts, err := server.ProcessConfigFile("nats/nats.conf")
	if err != nil {
		t.Fatalf("nats-server would refuse deploy/nats/nats.conf: %v", err)
	}
	if !opts.JetStream || opts.Cluster.Name != "storylane" || len(opts.Routes) != 3 || opts.SystemAccount != "SYS" {
		t.Errorf("nats.conf: jetstream %v, cluster %q, %d routes, system account %q; want JetStream in cluster storylane over 3 routes, SYS",
			opts.JetStream, opts.Cluster.Name, len(opts.Routes), opts.SystemAccount)
	}
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	for _, name := range []string{"bridge", "lead-sync", "session-archive", "session-stats", "admin", "sys"} {
		if users[name] == nil {
			t.Errorf("nats.conf has no user %s", name)
		}
	}
	// The bridge publishes events and manages its stream; it reads nothing
	// but its own replies.
	b := users["bridge"].Permissions
	if !slices.Equal(b.Subscribe.Allow, []string{"_INBOX.bridge.>"}) || slices.Contains(b.Publish.Allow, "storylane.>") ||
		!slices.Contains(b.Publish.Allow, "storylane.session.known") {
		t.Errorf("bridge permissions = publish %v subscribe %v, want the event subjects and its own inbox only", b.Publish.Allow, b.Subscribe.Allow)
	}
	// Each consumer publishes to its own dead-letter subject only
	// (session-stats to none).
	for _, c := range []string{"lead-sync", "session-archive", "session-stats"} {
		p := users[c].Permissions.Publish.Allow
		for _, s := range p {
			if regexp.MustCompile(`^storylane\.`).MatchString(s) && s != "storylane.dlq."+c {
				t.Errorf("%s may publish to %s, want only storylane.dlq.%s", c, s, c)
			}
		}
	}
}

// TestHelmValuesMatchAccounts keeps the Helm values' accounts identical to
// deploy/nats/hub-accounts.conf, so both deployments grant the same rights,
// but for the leaf users: one per edge, which differ by deployment (see
// TestHelmHub).
func TestHelmValuesMatchAccounts(t *testing.T) {
	hubEnv(t)
	fromConf, err := conf.ParseFile("nats/hub-accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	fromHelm := helmAccounts(t)
	if got, want := canonical(t, withoutLeafUsers(t, fromHelm)), canonical(t, withoutLeafUsers(t, fromConf)); got != want {
		t.Errorf("nats-values.yaml accounts differ from hub-accounts.conf:\nhelm: %s\nconf: %s", got, want)
	}
}

// helmAccounts is the accounts part of the Helm values, as nats.conf
// would read it.
func helmAccounts(t *testing.T) map[string]any {
	t.Helper()
	var values struct {
		Config struct {
			Merge map[string]any `json:"merge"`
		} `json:"config"`
	}
	helmValues(t, &values)
	return map[string]any{
		"accounts":       verbatim(t, values.Config.Merge["accounts"]),
		"system_account": values.Config.Merge["system_account"],
	}
}

// withoutLeafUsers is the accounts configuration c without the edges' leaf
// users: those that may publish an edge's deliveries.
func withoutLeafUsers(t *testing.T, c map[string]any) map[string]any {
	t.Helper()
	var generic map[string]any
	if err := json.Unmarshal(toJSON(t, c), &generic); err != nil {
		t.Fatal(err)
	}
	acc := generic["accounts"].(map[string]any)["STORYLANE"].(map[string]any)
	var kept []any
	for _, u := range acc["users"].([]any) {
		if !strings.Contains(string(toJSON(t, u)), `"edge-sourcing.`) {
			kept = append(kept, u)
		}
	}
	acc["users"] = kept
	return generic
}

var verbatimValue = regexp.MustCompile(`^<< (.*) >>$`)

// verbatim reads the chart's "<< X >>" values as nats.conf would.
func verbatim(t *testing.T, v any) any {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = verbatim(t, x)
		}
	case []any:
		for i, x := range v {
			v[i] = verbatim(t, x)
		}
	case string:
		if m := verbatimValue.FindStringSubmatch(v); m != nil {
			parsed, err := conf.Parse("v: " + m[1])
			if err != nil {
				t.Fatalf("verbatim value %q: %v", v, err)
			}
			return parsed["v"]
		}
	}
	return v
}

// canonical is a stable JSON text: sorted keys, all numbers alike.
func canonical(t *testing.T, v any) string {
	t.Helper()
	var generic any
	if err := json.Unmarshal(toJSON(t, v), &generic); err != nil {
		t.Fatal(err)
	}
	return string(toJSON(t, generic))
}

// TestHelmValuesRoutes checks the cluster's routes in the Helm values: set
// from an environment variable that Kubernetes can expand (it must come
// after the password it uses, in the order the chart lists variables) and
// with the route password.
func TestHelmValuesRoutes(t *testing.T) {
	t.Parallel()
	var values struct {
		Config struct {
			Cluster struct {
				Enabled   bool           `json:"enabled"`
				Replicas  int            `json:"replicas"`
				RouteURLs map[string]any `json:"routeURLs"`
				Merge     map[string]any `json:"merge"`
			} `json:"cluster"`
		} `json:"config"`
		Container struct {
			Env map[string]struct {
				Value string `json:"value"`
			} `json:"env"`
		} `json:"container"`
	}
	helmValues(t, &values)
	c := values.Config.Cluster
	if !c.Enabled || c.Replicas != 3 || c.RouteURLs != nil || c.Merge["routes"] != "<< $NATS_ROUTE_URLS >>" {
		t.Errorf("cluster values = %+v, want 3 replicas, no routeURLs, routes from $NATS_ROUTE_URLS", c)
	}
	routes := values.Container.Env["NATS_ROUTE_URLS"].Value
	if strings.Count(routes, "$(NATS_ROUTE_PASSWORD)@") != 3 || !("NATS_ROUTE_PASSWORD" < "NATS_ROUTE_URLS") {
		t.Errorf("NATS_ROUTE_URLS = %q, want three routes with $(NATS_ROUTE_PASSWORD), listed after it", routes)
	}
}

// TestEveryPasswordIsProvided: each password accounts.conf reads from the
// environment is given to the NATS nodes by the Helm values and by compose,
// and compose.env.example lists it: a user added to accounts.conf alone
// would stop nats-server at start.
func TestEveryPasswordIsProvided(t *testing.T) {
	t.Parallel()
	accounts, err := os.ReadFile("nats/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Container struct {
			Env map[string]any `json:"env"`
		} `json:"container"`
	}
	helmValues(t, &values)
	p, err := loadCompose(t, composeEnv())
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("compose.env.example")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`\$(NATS_[A-Z_]+_PASSWORD)`).FindAllStringSubmatch(string(accounts), -1)
	if len(vars) < 6 {
		t.Fatalf("accounts.conf reads %d passwords, want one per user", len(vars))
	}
	for _, m := range vars {
		v := m[1]
		if values.Container.Env[v] == nil {
			t.Errorf("nats-values.yaml does not give the nodes %s", v)
		}
		if p.Services["nats-1"].Environment[v] == nil {
			t.Errorf("compose.yaml does not give the nodes %s", v)
		}
		if !regexp.MustCompile(`(?m)^` + v + `=`).Match(example) {
			t.Errorf("compose.env.example does not list %s", v)
		}
	}
}

// helmValues decodes kubernetes/nats-values.yaml into v.
func helmValues(t *testing.T, v any) {
	t.Helper()
	b, err := os.ReadFile("kubernetes/nats-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
