package deploy_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeEnv is what compose.env.example documents, with test values.
func composeEnv() map[string]string {
	env := map[string]string{"LEAD_SYNC_TARGET_URL": "https://crm.example.com/in", "LEAD_SYNC_TARGET_SECRET": "",
		"BRIDGE_TRUSTED_PROXIES": "192.0.2.10"}
	for _, user := range []string{"ROUTE", "BRIDGE", "LEAD_SYNC", "SESSION_ARCHIVE", "SESSION_STATS", "TAIL", "ADMIN", "SYS"} {
		env["NATS_"+user+"_PASSWORD"] = "test-" + strings.ToLower(user)
	}
	return env
}

func loadCompose(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	return loadComposeFile(t, "compose.yaml", "storylane", env)
}

// loadComposeFile loads file as docker compose does, with env for the
// environment.
func loadComposeFile(t *testing.T, file, project string, env map[string]string) (*types.Project, error) {
	t.Helper()
	abs, _ := filepath.Abs(file)
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []types.ConfigFile{{Filename: abs}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName(project, true) })
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	p, err := loadCompose(t, composeEnv())
	if err != nil {
		t.Fatalf("compose.yaml does not load against the Compose specification: %v", err)
	}
	want := map[string]string{ // service → NATS user
		"nats-1": "", "nats-2": "", "nats-3": "",
		"bridge-1": "bridge", "bridge-2": "bridge", "lead-sync": "lead-sync", "session-archive": "session-archive",
		"session-stats": "session-stats",
	}
	for name, user := range want {
		s, ok := p.Services[name]
		if !ok {
			t.Errorf("compose.yaml has no service %s", name)
			continue
		}
		if user == "" {
			continue
		}
		env := s.Environment
		if v := env["NATS_USER"]; v == nil || *v != user {
			t.Errorf("service %s connects as %v, want its own user %s", name, env["NATS_USER"], user)
		}
		if v := env["NATS_INBOX_PREFIX"]; v == nil || *v != "_INBOX."+user {
			t.Errorf("service %s inbox prefix %v, want _INBOX.%s", name, env["NATS_INBOX_PREFIX"], user)
		}
		if v := env["NATS_URL"]; v == nil || strings.Count(*v, "nats://") != 3 {
			t.Errorf("service %s NATS_URL %v, want the three nodes", name, env["NATS_URL"])
		}
	}
	if ports := p.Services["bridge-1"].Ports; len(ports) != 1 || p.Services["bridge-2"].Ports[0].Published == ports[0].Published {
		t.Errorf("the bridges publish ports %v and %v, want two different ones", ports, p.Services["bridge-2"].Ports)
	}
	// The dashboard has no login: the Docker host's loopback only.
	if ports := p.Services["session-stats"].Ports; len(ports) != 1 || ports[0].HostIP != "127.0.0.1" || ports[0].Target != 8090 {
		t.Errorf("session-stats publishes %+v, want its dashboard (8090) on 127.0.0.1 only", ports)
	}
	if v := p.Services["session-stats"].Environment["STATS_STATE_DIR"]; v == nil || !volumeAt(p.Services["session-stats"], *v) {
		t.Errorf("session-stats state dir %v is not on a volume: a restart would read the whole stream again", v)
	}
	if v := p.Services["bridge-1"].Environment["STREAM_REPLICAS"]; v == nil || *v != "3" {
		t.Errorf("bridge STREAM_REPLICAS = %v, want 3", v)
	}
}

// TestComposeRequiresThePasswords: a missing password stops compose instead
// of starting a cluster with an empty one.
func TestComposeRequiresThePasswords(t *testing.T) {
	t.Parallel()
	env := composeEnv()
	delete(env, "NATS_BRIDGE_PASSWORD")
	if _, err := loadCompose(t, env); err == nil || !strings.Contains(err.Error(), "NATS_BRIDGE_PASSWORD") {
		t.Errorf("compose.yaml without NATS_BRIDGE_PASSWORD loads (%v), want an error naming it", err)
	}
}

// volumeAt reports whether a volume is mounted at path in s.
func volumeAt(s types.ServiceConfig, path string) bool {
	for _, v := range s.Volumes {
		if v.Target == path {
			return true
		}
	}
	return false
}
