package deploy_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
)

// composeEdgeEnv is what compose.env.example documents, with test values.
func composeEdgeEnv() map[string]string {
	env := composeEnv()
	for _, user := range []string{"STORYLANE_HUB", "EDGE_A", "EDGE_B"} {
		env["NATS_"+user+"_PASSWORD"] = "test" + strings.ToLower(strings.ReplaceAll(user, "_", ""))
	}
	return env
}

func loadComposeEdge(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	return loadComposeFile(t, "compose-edge.yaml", "storylane-edge", env)
}

func envOf(s types.ServiceConfig, name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// TestComposeEdgeFile: the hub nodes run hub.conf with every password it
// reads (nats-server loads it with hub-1's environment), each edge is
// named as its service, connects as its own leaf user with that user's
// password, dials every hub node's leafnode port and keeps its data dir
// on a volume of its own, and storylane-hub sets up exactly these edges as
// its own user.
func TestComposeEdgeFile(t *testing.T) {
	env := composeEdgeEnv()
	p, err := loadComposeEdge(t, env)
	if err != nil {
		t.Fatalf("compose-edge.yaml does not load against the Compose specification: %v", err)
	}
	hubs := []string{"hub-1", "hub-2", "hub-3"}
	edges := []string{"edge-a", "edge-b"}
	for _, name := range append(append(slices.Clone(hubs), edges...), "hub-setup") {
		if _, ok := p.Services[name]; !ok {
			t.Fatalf("compose-edge.yaml has no service %s", name)
		}
	}
	hub1 := p.Services["hub-1"]
	if !slices.Equal(hub1.Command, types.ShellCommand{"-c", "/etc/nats/hub.conf"}) || !volumeAt(hub1, "/etc/nats") {
		t.Errorf("hub-1 runs %v, want nats-server -c /etc/nats/hub.conf from ./nats", hub1.Command)
	}
	for k, v := range hub1.Environment {
		if v != nil {
			t.Setenv(k, *v)
		}
	}
	t.Setenv("NATS_STORE_DIR", t.TempDir())
	opts, err := server.ProcessConfigFile("nats/hub.conf")
	if err != nil {
		t.Fatalf("nats-server refuses hub.conf with hub-1's environment: %v", err)
	}
	leafUsers := usersByName(opts)
	var remotes []string
	for _, h := range hubs {
		remotes = append(remotes, "nats-leaf://"+h+":"+envOf(p.Services[h], "NATS_LEAF_PORT"))
	}
	published, volumes := map[string]bool{}, map[string]bool{}
	for _, name := range edges {
		s := p.Services[name]
		if envOf(s, "BRIDGE_EDGE_NAME") != name || envOf(s, "BRIDGE_LEAF_USER") != name {
			t.Errorf("%s: edge name %q, leaf user %q; want both %s", name, envOf(s, "BRIDGE_EDGE_NAME"), envOf(s, "BRIDGE_LEAF_USER"), name)
		}
		u := leafUsers[name]
		if u == nil || u.Password != envOf(s, "BRIDGE_LEAF_PASSWORD") || permString(u.Permissions) != permString(edgePermissions(name)) {
			t.Errorf("%s: no leaf user of its name and password on the hub, held to its rights", name)
		}
		if got := strings.Split(envOf(s, "BRIDGE_LEAF_REMOTE"), ","); !slices.Equal(got, remotes) {
			t.Errorf("%s: leaf remotes %v, want every hub node's leafnode port %v", name, got, remotes)
		}
		if !volumeAt(s, "/data") || envOf(s, "BRIDGE_NATS_LISTEN") != "none" {
			t.Errorf("%s: want its data dir (/data, the image's) on a volume and no broker listener", name)
		}
		if len(s.Ports) != 1 || published[s.Ports[0].Published] {
			t.Errorf("%s publishes %v, want one port of its own", name, s.Ports)
		} else {
			published[s.Ports[0].Published] = true
		}
		if len(s.Volumes) != 1 || volumes[s.Volumes[0].Source] {
			t.Errorf("%s: volumes %v, want one of its own", name, s.Volumes)
		} else {
			volumes[s.Volumes[0].Source] = true
		}
	}
	checkHubSetup(t, p.Services["hub-setup"], edges)
}

func checkHubSetup(t *testing.T, s types.ServiceConfig, edges []string) {
	t.Helper()
	args := []string(s.Command)
	if !slices.Equal(s.Entrypoint, types.ShellCommand{"/usr/local/bin/storylane-hub"}) || argValue(args, "--duplicate-window") == "" ||
		argValue(args, "--edges") != strings.Join(edges, ",") {
		t.Errorf("hub-setup runs %v %v, want storylane-hub with a duplicate window and --edges %s", s.Entrypoint, args, strings.Join(edges, ","))
	}
	if envOf(s, "NATS_USER") != "storylane-hub" || envOf(s, "NATS_INBOX_PREFIX") != "_INBOX.storylane-hub" ||
		envOf(s, "NATS_PASSWORD") != composeEdgeEnv()["NATS_STORYLANE_HUB_PASSWORD"] || strings.Count(envOf(s, "NATS_URL"), "nats://hub-") != 3 {
		t.Errorf("hub-setup connects as %q (inbox %q) to %q, want storylane-hub with its inbox and password, to the three hub nodes",
			envOf(s, "NATS_USER"), envOf(s, "NATS_INBOX_PREFIX"), envOf(s, "NATS_URL"))
	}
	if s.Restart == "" || s.Restart == "no" {
		t.Errorf("hub-setup restart %q: it exits 1 while an edge is not up yet, and must run again", s.Restart)
	}
}

// TestComposeEdgeRequiresThePasswords: each password hub-accounts.conf
// reads is required by compose-edge.yaml and listed in compose.env.example.
func TestComposeEdgeRequiresThePasswords(t *testing.T) {
	vars := regexp.MustCompile(`\$(NATS_[A-Z_]+_PASSWORD)`).FindAllStringSubmatch(readFile(t, "nats/hub-accounts.conf"), -1)
	example := readFile(t, "compose.env.example")
	for _, m := range vars {
		env := composeEdgeEnv()
		delete(env, m[1])
		if _, err := loadComposeEdge(t, env); err == nil || !strings.Contains(err.Error(), m[1]) {
			t.Errorf("compose-edge.yaml without %s loads (%v), want an error naming it", m[1], err)
		}
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).MatchString(example) {
			t.Errorf("compose.env.example does not list %s", m[1])
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
