// Package ingresstest runs the bridge's HTTP handler over a real embedded
// JetStream server on loopback, for the tests of the commands that send
// webhooks to it.
package ingresstest

import (
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Bridge is a running handler and what it stores into.
type Bridge struct {
	URL  string // the webhook URL
	NATS *natstest.Server
	JS   jetstream.JetStream // reads the default stream
}

// Start runs the handler, verifying with secret, in front of a fresh
// server holding the default stream; both stop when the test ends.
func Start(t testing.TB, secret string) *Bridge {
	t.Helper()
	srv := natstest.Start(t)
	js, err := jetstream.New(srv.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	subjects := natstest.DefaultStream(t, js).Subjects
	keys, _ := storylane.NewKeyring(secret)
	reader, err := storylane.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	pub := broker.NewPublisher(js, broker.DefaultStream)
	h := ingress.NewServer(ingress.Config{Subjects: subjects, Origin: cloudevent.DefaultOrigin()},
		ingress.Deps{Logger: zap.NewNop(), Verifier: keys, Reader: reader, Publisher: pub, Ready: pub})
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &Bridge{URL: hs.URL + ingress.WebhookPath, NATS: srv, JS: srv.JetStream(t)}
}
