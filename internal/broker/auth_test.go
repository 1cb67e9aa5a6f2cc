package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
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
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if nc.IsConnected() {
			return true
		}
	}
	return false
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
	ca := newCA(t)
	serverCert := ca.issue(t, false)
	writeCertPEM(t, filepath.Join(dir, "ca.pem"), ca.der)
	ca.issue(t, true).write(t, filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	addr := startAuthServer(t, &server.Options{
		TLS: true, TLSVerify: true,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{serverCert.tls}, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	})
	cfg := broker.ConnConfig{URL: "tls://" + addr, TLSCA: filepath.Join(dir, "ca.pem"),
		TLSCert: filepath.Join(dir, "client.pem"), TLSKey: filepath.Join(dir, "client-key.pem")}
	if !connected(t, cfg) {
		t.Error("Connect with the CA and a client certificate did not connect")
	}
	cfg.TLSCert, cfg.TLSKey = "", ""
	if connected(t, cfg) {
		t.Error("Connect without a client certificate connected")
	}
}

type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	der  []byte
}

type issued struct {
	tls    tls.Certificate
	der    []byte
	keyDER []byte
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{key: key, cert: cert, der: der}
}

func (ca *testCA) issue(t *testing.T, client bool) issued {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if client {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return issued{tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der: der, keyDER: keyDER}
}

func (i issued) write(t *testing.T, certFile, keyFile string) {
	t.Helper()
	writeCertPEM(t, certFile, i.der)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: i.keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeCertPEM(t *testing.T, file string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
