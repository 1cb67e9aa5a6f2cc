package ingress_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/internal/jsontest"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

// spy publishes through the real publisher and remembers what it sent.
type spy struct {
	pub  *broker.Publisher
	mu   sync.Mutex
	sent []*nats.Msg
}

func (s *spy) Publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	s.mu.Lock()
	s.sent = append(s.sent, msg)
	s.mu.Unlock()
	return s.pub.Publish(ctx, msg)
}

func (s *spy) take() []*nats.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}

// FuzzHandler drives the whole HTTP handler, over a real JetStream server,
// with arbitrary bodies and signature headers. It never panics, never
// answers 2xx nor publishes without a valid signature, and what it
// publishes is the body byte for byte.
func FuzzHandler(f *testing.F) {
	known, _ := schemas.Example("known")
	f.Add(known, uint8(1), "")
	f.Add(known, uint8(0), "")
	f.Add(known, uint8(2), "lBArux/d/3yC66HID2DspizQTbfMu/VLP9y8R7AZUds=")
	f.Add([]byte(`{"id":"x","lead":null}`), uint8(1), "")
	f.Add([]byte(`not json`), uint8(1), "")
	f.Add([]byte(`{"name":"no id"}`), uint8(1), "")
	f.Add([]byte{}, uint8(2), "%%%")
	f.Add([]byte(`{"id":"a","lead":{"email":"x@example.org"},"lead":null}`), uint8(1), "")
	f.Add([]byte("{\"id\":\"a\xffb\"}"), uint8(1), "")

	srv := natstest.Start(f)
	js := srv.JetStream(f)
	stream := natstest.DefaultStream(f, js)
	keys, _ := storylane.NewKeyring(secret1, secret2)
	reader, err := storylane.NewReader()
	if err != nil {
		f.Fatal(err)
	}
	s := &spy{pub: broker.NewPublisher(js, stream.Name)}
	h := ingress.NewServer(ingress.Config{Subjects: stream.Subjects, MaxBody: 64 << 10,
		Origin: cloudevent.DefaultOrigin()},
		ingress.Deps{Logger: zap.NewNop(), Verifier: keys, Reader: reader, Publisher: s, Ready: s.pub})

	f.Fuzz(func(t *testing.T, body []byte, mode uint8, header string) {
		req := httptest.NewRequest(http.MethodPost, ingress.WebhookPath, bytes.NewReader(body))
		switch mode % 4 {
		case 1:
			header = storylane.Sign(body, []byte(secret1))
		case 2:
			header = storylane.Sign(body, []byte(secret2))
		case 3:
			if strings.ContainsAny(header, "\r\n\x00") {
				return // not a header value net/http would deliver
			}
		default:
			header = ""
		}
		if header != "" {
			req.Header.Set("X-Storylane-Signature", header)
		}
		// The oracle does not use the code under test: a signature is valid
		// when it is, to the letter, the base64 HMAC of the body under one
		// of the secrets.
		signed := header == storylane.Sign(body, []byte(secret1)) || header == storylane.Sign(body, []byte(secret2))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		sent := s.take()
		code := rec.Code
		if !signed {
			if code != http.StatusUnauthorized || len(sent) != 0 {
				t.Fatalf("unsigned %q: %d with %d messages published, want 401 and none", body, code, len(sent))
			}
			return
		}
		if len(body) > 64<<10 {
			if code != http.StatusRequestEntityTooLarge || len(sent) != 0 {
				t.Fatalf("oversize body: %d, %d published, want 413 and none", code, len(sent))
			}
			return
		}
		if len(sent) != 1 || !bytes.Equal(sent[0].Data, body) {
			t.Fatalf("signed %q: %d messages published, want one with the body byte for byte", body, len(sent))
		}
		switch {
		case code == http.StatusOK && strings.HasPrefix(sent[0].Subject, "storylane.session."):
			if err := jsontest.Strict(body); err != nil {
				t.Fatalf("signed %q: stored as a session, a strict reader says %v", body, err)
			}
		case code == http.StatusUnprocessableEntity && sent[0].Subject == "storylane.invalid":
		default:
			t.Fatalf("signed %q: %d with a message on %s, want 200 on a session subject or 422 on storylane.invalid", body, code, sent[0].Subject)
		}
	})
}
