package ingress_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

// BenchmarkHandler is the whole webhook path, every feature on (schema
// validation, metrics, one JSON log line per request at info), over a real
// embedded JetStream server: each iteration a fresh signed session that is
// stored and acknowledged.
func BenchmarkHandler(b *testing.B) {
	srv := natstest.Start(b)
	js := srv.JetStream(b)
	stream := natstest.DefaultStream(b, js)
	keys, _ := storylane.NewKeyring(secret1)
	reader, err := storylane.NewReader()
	if err != nil {
		b.Fatal(err)
	}
	pub := broker.NewPublisher(js, stream.Name)
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(discard{}), zap.InfoLevel))
	h := ingress.NewServer(ingress.Config{Subjects: stream.Subjects, MaxConcurrent: 256,
		Origin: cloudevent.DefaultOrigin()},
		ingress.Deps{Logger: logger, Verifier: keys, Reader: reader, Publisher: pub, Ready: pub})
	template, _ := schemas.Example("known")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := bytes.Replace(template, []byte("2f37f8ce-6ecb-49a2-be12-36ae9c063042"), fmt.Appendf(nil, "bench-%012d", i), 1)
		req := httptest.NewRequest(http.MethodPost, ingress.WebhookPath, bytes.NewReader(body))
		req.Header.Set("X-Storylane-Signature", storylane.Sign(body, []byte(secret1)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
