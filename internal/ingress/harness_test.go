package ingress_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	secret1 = "whsec_test_secret"
	secret2 = "rotated-secret-2"
)

// harness is a bridge handler on a real loopback HTTP server, publishing to
// a real embedded JetStream server.
type harness struct {
	nats *natstest.Server
	js   jetstream.JetStream // a separate connection, to read the stream
	url  string
	logs *observer.ObservedLogs
}

func newHarness(t *testing.T, cfg ingress.Config, metrics ...*ingress.Metrics) *harness {
	t.Helper()
	return newHarnessWith(t, cfg, ingress.Deps{Metrics: first(metrics)})
}

// newHarnessWith is newHarness with some of the handler's dependencies
// given (metrics, a tracer); the rest are the harness's own.
func newHarnessWith(t *testing.T, cfg ingress.Config, deps ingress.Deps) *harness {
	t.Helper()
	h, srv := newUnserved(t, cfg, deps)
	h.serve(t, srv)
	return h
}

// serve serves handler on a loopback HTTP server for the harness's url.
func (h *harness) serve(t *testing.T, handler http.Handler) {
	t.Helper()
	hs := httptest.NewServer(handler)
	t.Cleanup(hs.Close)
	h.url = hs.URL
}

// newUnserved is newHarnessWith without the HTTP server: the caller serves
// the handler its own way.
func newUnserved(t *testing.T, cfg ingress.Config, deps ingress.Deps) (*harness, http.Handler) {
	t.Helper()
	srv := natstest.Start(t)
	js, err := jetstream.New(srv.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	sc := natstest.DefaultStream(t, js)
	keys, err := storylane.NewKeyring(secret1, secret2)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := storylane.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Origin == (cloudevent.Origin{}) {
		cfg.Origin = cloudevent.DefaultOrigin()
	}
	if cfg.Subjects.Prefix == "" {
		cfg.Subjects = sc.Subjects
	}
	core, logs := observer.New(zap.DebugLevel)
	pub := broker.NewPublisher(js, "STORYLANE")
	deps.Logger, deps.Verifier, deps.Reader, deps.Publisher, deps.Ready = zap.New(core), keys, reader, pub, pub
	return &harness{nats: srv, js: srv.JetStream(t), logs: logs}, ingress.NewServer(cfg, deps)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d body %q is not JSON: %v", r.status, r.body, err)
	}
	return m
}

func (h *harness) do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, b}
}

// post sends body signed with sig ("" sends no signature header).
func (h *harness) post(t *testing.T, body []byte, sig string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+ingress.WebhookPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("x-storylane-signature", sig)
	}
	return h.do(t, req)
}

func (h *harness) get(t *testing.T, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h.do(t, req)
}

func (h *harness) messages(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.Messages(t, h.js, "STORYLANE")
}

func sign(body []byte, secret string) string {
	return storylane.Sign(body, []byte(secret))
}

func example(t *testing.T, name string) []byte {
	t.Helper()
	b, err := schemas.Example(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func asMsg(m *jetstream.RawStreamMsg) *nats.Msg {
	return &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}
}

func first[T any](v []*T) *T {
	if len(v) == 0 {
		return nil
	}
	return v[0]
}
