package e2e_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

// oddSession is an unknown session whose id has everything the NATS
// binding percent-encodes: spaces, quotes, '%' and non-ASCII characters;
// its viewed_at has microseconds and an offset.
const oddSession = `{"id":"a \"quoted\" 100% id, né ✓","lead":null,"buyer_reveal":null,"viewed_at":"2024-05-17T12:58:05.337123+02:00"}`

// contractInvalid is a signed body that is not a session: it has no id.
const contractInvalid = `{"name":"no id"}`

// contractSessions are the sessions the contract tests send: Storylane's
// two examples and oddSession.
func contractSessions(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, name := range []string{"known", "unknown"} {
		b, err := schemas.Example(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out, []byte(oddSession))
}

// contractBridge runs the bridge on its embedded broker with args, trusting
// loopback as a proxy so that a request's trace context rides on its event,
// and returns its broker's client URL, its webhook base URL and its data
// directory.
func contractBridge(t *testing.T, args ...string) (natsURL, url, dataDir string) {
	t.Helper()
	dataDir = filepath.Join(t.TempDir(), "data")
	p := clitest.StartProcess(t, binary("storylane-bridge"),
		[]string{"STORYLANE_WEBHOOK_SECRET=" + secret, "BRIDGE_DATA_DIR=" + dataDir},
		append([]string{"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--trusted-proxies", "127.0.0.0/8"}, args...)...)
	return p.Logs.Wait(t, "embedded nats started")["client_url"].(string), "http://" + p.Logs.Wait(t, "listening")["addr"].(string), dataDir
}

// TestAsyncAPIMatchesTheWire holds schemas/asyncapi.yaml to what a real
// bridge and lead-sync store: sessions (with trace context), an invalid
// payload, a dead letter and the dead letter of its failed re-drive are read back from the stream, and every
// header of each must be declared on its channel, with a value its schema
// allows; every required header must be there, every declared one seen;
// the channel addresses must be the broker's subjects, and each example
// must be a message the bridge really stored.
func TestAsyncAPIMatchesTheWire(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	natsURL, url, _ := contractBridge(t)
	trace := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "Tracestate": {"e2e=contract"}}
	for _, body := range contractSessions(t) {
		if code := post(t, url, body, trace); code != http.StatusOK {
			t.Fatalf("POST %s = %d, want 200", body, code)
		}
	}
	if code := post(t, url, []byte(contractInvalid), trace); code != http.StatusUnprocessableEntity {
		t.Fatalf("POST %s = %d, want 422", contractInvalid, code)
	}
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) }))
	defer refuse.Close()
	lead := clitest.StartProcess(t, binary("lead-sync"), []string{"NATS_URL=" + natsURL, "CONSUMER_DELIVER=all"}, "--target-url", refuse.URL)
	js := readerJetStream(t, natsURL)
	poll.Eventually(t, "the known session dead-lettered", 30*time.Second, func() bool { return len(deadLetters(t, js, "lead-sync")) == 1 })
	lead.Signal(t, syscall.SIGTERM)
	lead.Exit(t)
	// A re-drive that fails again parks a dead letter of the dead letter.
	redrive := clitest.StartProcess(t, binary("lead-sync"), []string{"NATS_URL=" + natsURL}, "--target-url", refuse.URL, "--redrive")
	if code := redrive.Exit(t); code != 0 {
		t.Fatalf("lead-sync --redrive exited %d:\n%s", code, redrive.Logs)
	}
	if n := len(deadLetters(t, js, "lead-sync")); n != 2 {
		t.Fatalf("after a failed re-drive, %d dead letters, want 2", n)
	}

	chans := c.channels(t)
	checkAddresses(t, chans)
	stored := allMessages(t, js)
	checkMessages(t, chans, stored)
	checkExamples(t, c, chans, stored)
	checkSessionSchema(t, c, chans)
}

// checkAddresses: the channels are the broker's subjects, no more, no less.
func checkAddresses(t *testing.T, chans []contractChannel) {
	t.Helper()
	s := broker.Subjects{Prefix: broker.DefaultSubjectPrefix}
	want := []string{s.DeadLetter("{consumer}"), s.Invalid(), s.Session(true), s.Session(false)}
	var got []string
	for _, ch := range chans {
		got = append(got, ch.address)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("asyncapi.yaml channel addresses = %q, want the broker's subjects %q", got, want)
	}
}

// checkMessages holds every stored message to its channel's headers.
func checkMessages(t *testing.T, chans []contractChannel, stored []*jetstream.RawStreamMsg) {
	t.Helper()
	seen := map[string]map[string]bool{}
	for _, m := range stored {
		var ch *contractChannel
		for i := range chans {
			if addressPattern(chans[i].address).MatchString(m.Subject) {
				ch = &chans[i]
			}
		}
		if ch == nil {
			t.Errorf("message #%d on %s: no channel of asyncapi.yaml has that address", m.Sequence, m.Subject)
			continue
		}
		if seen[ch.key] == nil {
			seen[ch.key] = map[string]bool{}
		}
		for name, vs := range m.Header {
			seen[ch.key][name] = true
			rule := ch.headers[name]
			if rule == nil {
				t.Errorf("message #%d on %s has header %s = %q, which channel %s does not declare", m.Sequence, m.Subject, name, vs, ch.key)
				continue
			}
			if err := rule.check(vs[0]); err != nil || len(vs) != 1 {
				t.Errorf("message #%d on %s: header %s = %q: %v", m.Sequence, m.Subject, name, vs, err)
			}
		}
		for name, rule := range ch.headers {
			if rule.required && m.Header.Get(name) == "" {
				t.Errorf("message #%d on %s lacks header %s, which channel %s requires", m.Sequence, m.Subject, name, ch.key)
			}
		}
	}
	for _, ch := range chans {
		if seen[ch.key] == nil {
			t.Errorf("channel %s (%s): no message of the test was stored there", ch.key, ch.address)
		}
		for name := range ch.headers {
			if seen[ch.key] != nil && !seen[ch.key][name] {
				t.Errorf("channel %s declares header %s, which no stored message carried", ch.key, name)
			}
		}
	}
}

// checkExamples: each example's headers are valid for its channel, and it
// is a message the test stored (found by Nats-Msg-Id), header for header
// but for the time of receipt and the trace context the test added.
func checkExamples(t *testing.T, c contract, chans []contractChannel, stored []*jetstream.RawStreamMsg) {
	t.Helper()
	varies := map[string]bool{"Storylane-Received-At": true, "ce-traceparent": true, "ce-tracestate": true}
	for _, ch := range chans {
		for i, ex := range asSlice(ch.message["examples"]) {
			headers, _ := c.deref(t, ex)["headers"].(map[string]any)
			if len(headers) == 0 {
				continue
			}
			id, _ := headers["Nats-Msg-Id"].(string)
			idx := slices.IndexFunc(stored, func(m *jetstream.RawStreamMsg) bool { return m.Header.Get("Nats-Msg-Id") == id })
			if idx < 0 {
				t.Errorf("channel %s, example %d: no stored message has Nats-Msg-Id %q", ch.key, i, id)
				continue
			}
			got := stored[idx].Header
			for name, v := range headers {
				rule := ch.headers[name]
				if rule == nil {
					t.Errorf("channel %s, example %d: header %s is not declared", ch.key, i, name)
					continue
				}
				if err := rule.check(v.(string)); err != nil {
					t.Errorf("channel %s, example %d: header %s: %v", ch.key, i, name, err)
				}
				if !varies[name] && got.Get(name) != v {
					t.Errorf("channel %s, example %d: header %s = %q, the bridge stored %q", ch.key, i, name, v, got.Get(name))
				}
			}
			for name := range got {
				if _, ok := headers[name]; !ok && !varies[name] {
					t.Errorf("channel %s, example %d lacks header %s = %q of the stored message", ch.key, i, name, got.Get(name))
				}
			}
		}
	}
}

// checkSessionSchema: the session payload references the schema file
// whose $id every event names as its dataschema.
func checkSessionSchema(t *testing.T, c contract, chans []contractChannel) {
	t.Helper()
	path := c.sessionSchemaRef(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the session payload's $ref: %v", err)
	}
	var s struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(raw, &s); err != nil || s.ID != schemas.SessionSchemaID {
		t.Errorf("%s: $id %q (%v), want %q", path, s.ID, err, schemas.SessionSchemaID)
	}
	for _, ch := range chans {
		if rule := ch.headers["ce-dataschema"]; rule != nil {
			if err := rule.check(s.ID); err != nil {
				t.Errorf("channel %s: ce-dataschema: %v", ch.key, err)
			}
		}
	}
}
