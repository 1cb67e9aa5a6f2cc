package broker_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/tlstest"
)

// startAuthServer runs a nats-server on loopback with the given options.
func startAuthServer(t *testing.T, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("auth server not ready")
	}
	return ns.Addr().String()
}

// connected reports whether a connection made with cfg comes up within a
// second; Connect itself never fails for an unreachable or refusing server.
func connected(t *testing.T, cfg broker.ConnConfig) bool {
	t.Helper()
	nc, err := broker.Connect(cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("Connect(%+v) = %v", cfg, err)
	}
	defer nc.Close()
	return poll.Within(time.Second, nc.IsConnected)
}

func TestConnectWithUserPassword(t *testing.T) {
	t.Parallel()
	addr := startAuthServer(t, &server.Options{Users: []*server.User{{Username: "bridge", Password: "s3cret"}}})
	url := "nats://" + addr
	if !connected(t, broker.ConnConfig{URL: url, User: "bridge", Password: "s3cret"}) {
		t.Error("Connect with the right password did not connect")
	}
	if connected(t, broker.ConnConfig{URL: url, User: "bridge", Password: "wrong"}) {
		t.Error("Connect with a wrong password connected")
	}
}

func TestConnectWithNKeySeed(t *testing.T) {
	t.Parallel()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	file := filepath.Join(t.TempDir(), "bridge.nk")
	if err := os.WriteFile(file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startAuthServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	if !connected(t, broker.ConnConfig{URL: "nats://" + addr, NKeyFile: file}) {
		t.Error("Connect with the nkey seed did not connect")
	}
	if connected(t, broker.ConnConfig{URL: "nats://" + addr}) {
		t.Error("Connect without the nkey connected")
	}
}

func TestConnectWithMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	caFile := ca.WriteCA(t, dir)
	clientCert, clientKey := ca.Issue(t, true).Write(t, dir, "client")
	addr := startAuthServer(t, &server.Options{
		TLS: true, TLSVerify: true,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, false).TLS}, ClientCAs: ca.Pool(),
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	})
	cfg := broker.ConnConfig{URL: "tls://" + addr, TLSCA: caFile, TLSCert: clientCert, TLSKey: clientKey}
	if !connected(t, cfg) {
		t.Error("Connect with the CA and a client certificate did not connect")
	}
	cfg.TLSCert, cfg.TLSKey = "", ""
	if connected(t, cfg) {
		t.Error("Connect without a client certificate connected")
	}
}
