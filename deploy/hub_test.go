package deploy_test

import (
	"fmt"
	"maps"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// hubEnv sets what deploy/nats/hub.conf reads from the environment, on
// top of natsEnv's, each password to a value naming its variable.
func hubEnv(t *testing.T) {
	t.Helper()
	natsEnv(t)
	for _, v := range []string{"NATS_STORYLANE_HUB_PASSWORD", "NATS_EDGE_A_PASSWORD", "NATS_EDGE_B_PASSWORD", "NATS_EDGE_LEAF_PASSWORD"} {
		t.Setenv(v, "env:"+v)
	}
	t.Setenv("NATS_LEAF_PORT", "7422")
}

// hubOptions loads deploy/nats/hub.conf as nats-server -c does.
func hubOptions(t *testing.T) *server.Options {
	t.Helper()
	opts, err := server.ProcessConfigFile("nats/hub.conf")
	if err != nil {
		t.Fatalf("nats-server would refuse deploy/nats/hub.conf: %v", err)
	}
	return opts
}

func usersByName(opts *server.Options) map[string]*server.User {
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	return users
}

// edgePermissions is what the leaf user of the named edge may do, seen
// from the edge as for a client: publish (send to the hub) its HUB
// consumer's deliveries and the replies to the hub's source
// ($JSC.R.edge-<name>.…), to storylane-hub and to operators (_INBOX.admin, the
// nats CLI's --inbox-prefix); subscribe to (receive from the hub) its
// own JetStream API and the flow-control replies to its HUB consumer.
func edgePermissions(edge string) *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{"edge-sourcing." + edge + ".STORYLANE", "$JSC.R.edge-" + edge + ".*.STORYLANE.HUB.*",
			"_INBOX.storylane-hub.>", "_INBOX.admin.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"$JS.edge-" + edge + ".API.>", "$JS.FC.edge-" + edge + ".*.STORYLANE.HUB.*"}},
	}
}

// TestHubConfigLoads loads deploy/nats/hub.conf: the cluster node of
// nats.conf, with JetStream domain hub and a leafnode listener, every user
// of accounts.conf as it is there, storylane-hub's user, and one leaf user
// per edge, each held to its own edge's subjects.
func TestHubConfigLoads(t *testing.T) {
	hubEnv(t)
	opts := hubOptions(t)
	if !opts.JetStream || opts.JetStreamDomain != "hub" || opts.LeafNode.Port != 7422 || opts.Cluster.Name != "storylane" ||
		opts.SystemAccount != "SYS" || opts.LeafNode.Username != "" || len(opts.LeafNode.Users) != 0 {
		t.Errorf("hub.conf: jetstream %v domain %q, leafnode port %d, cluster %q, system account %q, leafnode users %q/%d; "+
			"want JetStream in domain hub, leafnodes on 7422 authenticated by the accounts' users, cluster storylane, SYS",
			opts.JetStream, opts.JetStreamDomain, opts.LeafNode.Port, opts.Cluster.Name, opts.SystemAccount,
			opts.LeafNode.Username, len(opts.LeafNode.Users))
	}
	hub := usersByName(opts)
	cluster, err := server.ProcessConfigFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	shared := usersByName(cluster)
	for name, u := range shared {
		h := hub[name]
		if h == nil || h.Password != u.Password || h.Account.Name != u.Account.Name || !reflect.DeepEqual(h.Permissions, u.Permissions) {
			t.Errorf("hub-accounts.conf's user %s differs from accounts.conf's: a user has the same rights on the hub", name)
		}
	}
	edges := 0
	for _, name := range slices.Sorted(maps.Keys(hub)) {
		u := hub[name]
		switch {
		case shared[name] != nil:
		case name == "storylane-hub":
			checkHubToolUser(t, u)
		default:
			edges++
			if want := edgePermissions(name); !reflect.DeepEqual(u.Permissions, want) || u.Account.Name != "STORYLANE" {
				t.Errorf("leaf user %s: account %s, permissions %s; want account STORYLANE and %s",
					name, u.Account.Name, permString(u.Permissions), permString(want))
			}
			if want := "env:NATS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_PASSWORD"; u.Password != want {
				t.Errorf("leaf user %s's password is not read from $%s", name, strings.TrimPrefix(want, "env:"))
			}
		}
	}
	if edges != 2 {
		t.Errorf("hub-accounts.conf has %d leaf users, want edge-a's and edge-b's", edges)
	}
}

func checkHubToolUser(t *testing.T, u *server.User) {
	t.Helper()
	p := u.Permissions
	if u.Account.Name != "STORYLANE" || p == nil || p.Publish == nil || p.Subscribe == nil ||
		!slices.Equal(p.Subscribe.Allow, []string{"_INBOX.storylane-hub.>"}) {
		t.Fatalf("storylane-hub user: account %s, permissions %s; want STORYLANE, its own inbox", u.Account.Name, permString(p))
	}
	for _, s := range p.Publish.Allow {
		if strings.HasPrefix(s, "storylane.") || strings.Contains(s, "DELETE") || strings.Contains(s, "PURGE") || strings.Contains(s, ">") {
			t.Errorf("storylane-hub may publish %s: want its stream's create, update and info, and the edges' HUB consumer info only", s)
		}
	}
}

func permString(p *server.Permissions) string {
	if p == nil {
		return "none"
	}
	var pub, sub any
	if p.Publish != nil {
		pub = p.Publish.Allow
	}
	if p.Subscribe != nil {
		sub = p.Subscribe.Allow
	}
	return fmt.Sprintf("publish %v subscribe %v responses %v", pub, sub, p.Response != nil)
}

// hubNode runs one node of deploy/nats/hub.conf in this process, without
// its cluster, its leafnode listener on a free loopback port. It returns
// the client URL, the leafnode address and the passwords by user.
func hubNode(t *testing.T, log *violationLog) (string, string, map[string]string) {
	t.Helper()
	hubEnv(t)
	pw := userPasswords(t, "bridge", "admin", "storylane-hub", "edge-a", "edge-b")
	opts := hubOptions(t)
	opts.StoreDir = t.TempDir()
	opts.LeafNode.Host, opts.LeafNode.Port = "127.0.0.1", freePort(t)
	s := startNode(t, opts, log, "deploy/nats/hub.conf")
	return s.ClientURL(), net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.LeafNode.Port)), pw
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
