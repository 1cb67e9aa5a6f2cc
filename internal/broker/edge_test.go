package broker_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// TestLeafRemote: the remote carries the pitfalls' settings (ignore
// discovered servers, the event subjects denied both ways) and the leaf
// user's credentials as nats-server reads them: user and password in each
// URL, the nkey as its seed.
func TestLeafRemote(t *testing.T) {
	t.Parallel()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "leaf.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := broker.LeafRemote(&broker.EdgeConfig{Name: "a", SubjectPrefix: "acme.storylane",
		Remotes: []string{"nats-leaf://hub-1:7422", " nats-leaf://hub-2:7422"}, User: "edge-a", Password: "s3cret", NKeyFile: seedFile})
	if err != nil {
		t.Fatal(err)
	}
	events := []string{"acme.storylane.>"}
	imports := append(slices.Clone(events), "$JS.FC.*.*.*") // the shared first-format flow-control replies
	if !r.IgnoreDiscoveredServers || !slices.Equal(r.DenyImports, imports) || !slices.Equal(r.DenyExports, events) {
		t.Errorf("LeafRemote() = ignore discovered %t, deny imports %v, exports %v; want true, %v and %v",
			r.IgnoreDiscoveredServers, r.DenyImports, r.DenyExports, imports, events)
	}
	if len(r.URLs) != 2 || r.URLs[1].Host != "hub-2:7422" {
		t.Fatalf("LeafRemote() URLs = %v, want both hubs", r.URLs)
	}
	for _, u := range r.URLs {
		if p, _ := u.User.Password(); u.User.Username() != "edge-a" || p != "s3cret" {
			t.Errorf("LeafRemote() URL %s carries user %v, want edge-a with its password", u.Redacted(), u.User)
		}
	}
	if r.Nkey != string(seed) {
		t.Errorf("LeafRemote() nkey = %q, want the seed of %s", r.Nkey, seedFile)
	}
	if r.TLS || r.TLSConfig != nil {
		t.Errorf("LeafRemote() without TLS flags has TLS %t, want none", r.TLS)
	}
}

func TestLeafRemoteRefusesBadFiles(t *testing.T) {
	t.Parallel()
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  broker.EdgeConfig
		want string
	}{
		{"no remote", broker.EdgeConfig{}, "no leaf remote"},
		{"remote without a port", broker.EdgeConfig{Remotes: []string{"nats-leaf://hub"}}, "with a port"},
		{"missing seed file", broker.EdgeConfig{Remotes: []string{"nats-leaf://hub:7422"}, NKeyFile: "/nonexistent/leaf.nk"}, "leaf nkey seed"},
		{"CA without a certificate", broker.EdgeConfig{Remotes: []string{"nats-leaf://hub:7422"}, TLSCA: notPEM}, "no PEM certificate"},
		{"half a client certificate", broker.EdgeConfig{Remotes: []string{"nats-leaf://hub:7422"}, TLSCert: notPEM}, "both a cert and a key"},
	}
	for _, tt := range tests {
		if _, err := broker.LeafRemote(&tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LeafRemote(%s) = %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
}
