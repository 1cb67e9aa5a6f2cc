package broker_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/tlstest"
)

// leafUser is an nkey user, its seed written to a file as --leaf-nkey
// takes it.
func leafUser(t *testing.T, dir, name string) (public, seedFile string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	public, _ = kp.PublicKey()
	seedFile = filepath.Join(dir, name+".nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return public, seedFile
}

// TestEdgeLeafLinkTLSAndNkey: against a hub whose leafnode port wants
// mutual TLS and an nkey, an edge with --leaf-tls-ca, --leaf-tls-cert,
// --leaf-tls-key and --leaf-nkey links up and answers through the hub;
// one without its client certificate, with a certificate of another CA or
// with another nkey stays unlinked, and keeps its own stream.
func TestEdgeLeafLinkTLSAndNkey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, other := tlstest.NewCA(t), tlstest.NewCA(t)
	hubCert := ca.Issue(t, false)
	user, seed := leafUser(t, dir, "user")
	_, strangerSeed := leafUser(t, dir, "stranger")
	caFile := ca.WriteCA(t, dir)
	cert, key := ca.Issue(t, true).Write(t, dir, "edge")
	otherCert, otherKey := other.Issue(t, true).Write(t, dir, "other")
	h := natstest.StartHub(t, func(o *server.Options) {
		o.LeafNode.TLSConfig = &tls.Config{Certificates: []tls.Certificate{hubCert.TLS}, ClientCAs: ca.Pool(),
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		o.LeafNode.TLSTimeout = 2
		o.LeafNode.Nkey = user
	})
	for _, tc := range []struct {
		name   string
		leaf   broker.EdgeConfig
		linked bool
	}{
		{"tls-nkey", broker.EdgeConfig{TLSCA: caFile, TLSCert: cert, TLSKey: key, NKeyFile: seed}, true},
		{"no-client-cert", broker.EdgeConfig{TLSCA: caFile, NKeyFile: seed}, false},
		{"other-ca", broker.EdgeConfig{TLSCA: caFile, TLSCert: otherCert, TLSKey: otherKey, NKeyFile: seed}, false},
		{"other-nkey", broker.EdgeConfig{TLSCA: caFile, TLSCert: cert, TLSKey: key, NKeyFile: strangerSeed}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := natstest.StartEdge(t, tc.name, h, func(c *broker.EdgeConfig) {
				c.TLSCA, c.TLSCert, c.TLSKey, c.NKeyFile = tc.leaf.TLSCA, tc.leaf.TLSCert, tc.leaf.TLSKey, tc.leaf.NKeyFile
			})
			if tc.linked {
				h.WaitEdgeReachable(t, e.Stream, tc.name)
				return
			}
			// Three reconnects' worth: a refused link does not come up later.
			time.Sleep(3 * time.Second)
			if e.Link.Connected() {
				t.Errorf("edge %s linked to the hub, want it refused", tc.name)
			}
			if err := e.Keeper.Ready(ctx(t)); err != nil {
				t.Errorf("edge %s: Ready() unlinked = %v, want nil: readiness is local", tc.name, err)
			}
		})
	}
}
