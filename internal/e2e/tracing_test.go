package e2e_test

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

// span is what the test keeps of an exported span.
type span struct {
	service, name, trace, id, parent string
}

// otlpReceiver is an OTLP/HTTP trace endpoint that keeps what it receives.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" { // where a collector listens
		http.NotFound(w, r)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var req collector.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.Resource.GetAttributes() {
			if a.Key == "service.name" {
				service = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				o.spans = append(o.spans, span{service, s.Name, hex.EncodeToString(s.TraceId), hex.EncodeToString(s.SpanId), hex.EncodeToString(s.ParentSpanId)})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collector.ExportTraceServiceResponse{})
	w.Write(out)
}

func (o *otlpReceiver) find(service, prefix string) (span, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.spans {
		if s.service == service && strings.HasPrefix(s.name, prefix) {
			return s, true
		}
	}
	return span{}, false
}

// TestTraceCrossesEveryHop: a webhook carrying a traceparent from a trusted
// proxy (the test, on loopback) is traced through the bridge, onto the NATS
// message as ce-traceparent, into lead-sync, and on to the CRM, all in the
// sender's trace.
func TestTraceCrossesEveryHop(t *testing.T) {
	t.Parallel()
	receiver := &otlpReceiver{}
	otlp := httptest.NewServer(receiver)
	defer otlp.Close()
	var mu sync.Mutex
	var crmHeaders http.Header
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		crmHeaders = r.Header.Clone()
		mu.Unlock()
	}))
	defer crm.Close()
	otel := "OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp.URL
	bridge := clitest.StartProcess(t, binary("storylane-bridge"), []string{"STORYLANE_WEBHOOK_SECRET=" + secret, otel, "BRIDGE_DATA_DIR=" + t.TempDir()},
		"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--trusted-proxies", "127.0.0.1/32")
	natsURL := bridge.Logs.Wait(t, "embedded nats started")["client_url"].(string)
	url := "http://" + bridge.Logs.Wait(t, "listening")["addr"].(string)
	sync := clitest.StartProcess(t, binary("lead-sync"), []string{"NATS_URL=" + natsURL, otel}, "--target-url", crm.URL)
	sync.Logs.Wait(t, "consuming")

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	body, _ := schemas.Example("known")
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/storylane", bytes.NewReader(body))
	req.Header.Set("x-storylane-signature", storylane.Sign(body, []byte(secret)))
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("POST with a traceparent = %v, %v, want 200", res, err)
	}
	res.Body.Close()
	poll.Eventually(t, "the CRM to receive the session", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return crmHeaders != nil
	})
	for _, p := range []*clitest.Process{sync, bridge} { // exiting flushes the spans
		p.Signal(t, syscall.SIGTERM)
		p.Exit(t)
	}

	mu.Lock()
	for _, h := range []string{"Traceparent", "Ce-Traceparent"} {
		if got := crmHeaders.Get(h); !strings.Contains(got, traceID) {
			t.Errorf("the CRM's %s = %q, want the sender's trace %s", h, got, traceID)
		}
	}
	mu.Unlock()
	server, ok1 := receiver.find("storylane-bridge", "POST /webhooks/storylane")
	publish, ok2 := receiver.find("storylane-bridge", "publish storylane.session.known")
	process, ok3 := receiver.find("lead-sync", "process lead-sync")
	deliver, ok4 := receiver.find("lead-sync", "POST target")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		t.Fatalf("spans received: %+v; want the bridge's request and publish, lead-sync's process and delivery", receiver.spans)
	}
	for _, s := range []span{server, publish, process, deliver} {
		if s.trace != traceID {
			t.Errorf("span %q is in trace %s, want the sender's %s", s.name, s.trace, traceID)
		}
	}
	if server.parent != parentID || publish.parent != server.id || process.parent != publish.id || deliver.parent != process.id {
		t.Errorf("span chain: request←%s, publish←%s, process←%s, delivery←%s; want sender→request→publish→process→delivery",
			server.parent, publish.parent, process.parent, deliver.parent)
	}
}
