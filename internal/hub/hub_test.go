package hub_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/hub"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
	"github.com/storylane-bridge/storylane-bridge/internal/usage"
)

// A durable source whose edge never answers leaves, in nats-server
// 2.15.3, a goroutine waiting out the 5 s consumer reset after the server
// has shut down (srcDurableConsumerWaitTime); it ends by itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*stream).trySetupSourceConsumer.func3"))
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func config(edges ...string) hub.Config {
	return hub.Config{Stream: broker.DefaultStream, Subjects: broker.Subjects{Prefix: broker.DefaultSubjectPrefix},
		Duplicates: time.Hour, Replicas: 1, Edges: edges, EdgeTimeout: 10 * time.Second}
}

func hubStream(t *testing.T, js jetstream.JetStream) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(ctx(t), broker.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}

// publish stores one event at the edge, acknowledged by the edge.
func publish(t *testing.T, e *natstest.Edge, id string) {
	t.Helper()
	if _, err := e.Keeper.Publish(ctx(t), &nats.Msg{Subject: "storylane.session.known", Data: []byte(`{"id":"` + id + `"}`),
		Header: nats.Header{"Nats-Msg-Id": {id}}}); err != nil {
		t.Fatalf("edge %s: Publish(%s) = %v", e.Name, id, err)
	}
}

func TestEnsureCreatesThenAddsWhatIsMissing(t *testing.T) {
	h := natstest.StartHub(t)
	js := h.JetStream(t)
	a := natstest.StartEdge(t, "a", h)
	publish(t, a, "a-0")
	res, err := hub.Ensure(ctx(t), js, config("a"))
	if err != nil || !res.Created || len(res.Added) != 1 {
		t.Fatalf("Ensure(a) on an empty hub = %+v, %v, want the stream created and a's source added", res, err)
	}
	sc := hubStream(t, js)
	if sc.Duplicates != time.Hour || len(sc.Sources) != 1 || sc.Sources[0].Consumer == nil ||
		sc.Sources[0].Consumer.DeliverSubject != "edge-sourcing.a.STORYLANE" || sc.Sources[0].External.APIPrefix != "$JS.edge-a.API" {
		t.Fatalf("hub stream = window %s, sources %+v, want 1h and a's durable source", sc.Duplicates, sc.Sources)
	}

	res, err = hub.Ensure(ctx(t), js, config("a"))
	if err != nil || res.Created || len(res.Added) != 0 || len(res.Present) != 1 || res.WindowChanged {
		t.Fatalf("Ensure(a) again = %+v, %v, want nothing changed", res, err)
	}

	b := natstest.StartEdge(t, "b", h)
	publish(t, b, "b-0")
	res, err = hub.Ensure(ctx(t), js, config("a", "b"))
	if err != nil || len(res.Added) != 1 || res.Added[0] != "b" || len(res.Present) != 1 {
		t.Fatalf("Ensure(a, b) = %+v, %v, want b added and a left", res, err)
	}
	poll.Eventually(t, "both edges' events on the hub", 20*time.Second, func() bool {
		s, err := js.Stream(ctx(t), broker.DefaultStream)
		return err == nil && s.CachedInfo().State.Msgs == 2
	})
}

// TestEnsureDeclaresAnEdgeThatDoesNotAnswerYet: an edge down when the hub
// is set up gets its source all the same, and its events reach the hub
// once it is up, without running storylane-hub again.
func TestEnsureDeclaresAnEdgeThatDoesNotAnswerYet(t *testing.T) {
	h := natstest.StartHub(t)
	js := h.JetStream(t)
	cfg := config("later")
	cfg.EdgeTimeout = 500 * time.Millisecond
	res, err := hub.Ensure(ctx(t), js, cfg)
	if err != nil || len(res.Added) != 1 || !errors.Is(res.Silent["later"], hub.ErrEdgeUnreachable) {
		t.Fatalf("Ensure(later) with the edge down = %+v, %v, want its source added and the edge said to be silent", res, err)
	}
	if sc := hubStream(t, js); len(sc.Sources) != 1 || sc.Duplicates != time.Hour {
		t.Fatalf("hub stream = sources %+v, window %s, want later's source and the 1h window", sc.Sources, sc.Duplicates)
	}
	e := natstest.StartEdge(t, "later", h)
	publish(t, e, "later-0")
	poll.Eventually(t, "the late edge's event on the hub", 20*time.Second, func() bool {
		s, err := js.Stream(ctx(t), broker.DefaultStream)
		return err == nil && s.CachedInfo().State.Msgs == 1
	})
}

func TestEnsureNeverEditsASource(t *testing.T) {
	edited := []struct {
		name string
		edit func(*jetstream.StreamSource)
	}{
		{"filter", func(s *jetstream.StreamSource) { s.Consumer, s.FilterSubject = nil, "storylane.session.>" }},
		{"transform", func(s *jetstream.StreamSource) {
			s.SubjectTransforms = []jetstream.SubjectTransformConfig{{Source: "storylane.>", Destination: "storylane.>"}}
		}},
		{"deliver subject", func(s *jetstream.StreamSource) { s.Consumer.DeliverSubject = "edge-sourcing.other.STORYLANE" }},
		{"classic sourcing", func(s *jetstream.StreamSource) { s.Consumer = nil }},
	}
	h := natstest.StartHub(t)
	js := h.JetStream(t)
	for _, tc := range edited {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config("a")
			cfg.Stream, cfg.Subjects.Prefix = "S"+strings.ReplaceAll(tc.name, " ", "_"), strings.ReplaceAll(tc.name, " ", "_")
			src := hub.Source(cfg.Stream, "a")
			tc.edit(src)
			if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: cfg.Stream, Subjects: []string{cfg.Subjects.All()},
				Storage: jetstream.FileStorage, Duplicates: time.Hour, Sources: []*jetstream.StreamSource{src}}); err != nil {
				t.Fatal(err)
			}
			_, err := hub.Ensure(ctx(t), js, cfg)
			if !errors.Is(err, broker.ErrConfig) || !strings.Contains(err.Error(), "never edits") {
				t.Fatalf("Ensure(a) with a's source declared with another %s = %v, want ErrConfig saying it never edits", tc.name, err)
			}
			s, err := js.Stream(ctx(t), cfg.Stream)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.CachedInfo().Config.Sources; len(got) != 1 || got[0].FilterSubject != src.FilterSubject {
				t.Errorf("sources after the refusal = %+v, want the declared one untouched", got)
			}
		})
	}
}

func TestEnsureRefusesSharedDeliverSubjects(t *testing.T) {
	h := natstest.StartHub(t)
	js := h.JetStream(t)
	x, y := hub.Source(broker.DefaultStream, "x"), hub.Source(broker.DefaultStream, "y")
	y.Consumer.DeliverSubject = x.Consumer.DeliverSubject
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: broker.DefaultStream, Subjects: []string{"storylane.>"},
		Duplicates: time.Hour, Sources: []*jetstream.StreamSource{x, y}}); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.Ensure(ctx(t), js, config()); !errors.Is(err, broker.ErrConfig) || !strings.Contains(err.Error(), x.Consumer.DeliverSubject) {
		t.Fatalf("Ensure() with two sources on one deliver subject = %v, want ErrConfig naming it", err)
	}
}

func TestEnsureSetsAMissingWindow(t *testing.T) {
	h := natstest.StartHub(t)
	js := h.JetStream(t)
	a := natstest.StartEdge(t, "a", h)
	h.WaitEdgeReachable(t, a.Stream, "a")
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: broker.DefaultStream, Subjects: []string{"storylane.>"},
		Storage: jetstream.FileStorage, Sources: []*jetstream.StreamSource{hub.Source(broker.DefaultStream, "a")}}); err != nil {
		t.Fatal(err)
	}
	if w := hubStream(t, js).Duplicates; w != 0 {
		t.Skipf("nats-server gave a stream with sources a %s window; the default this guards against is gone", w)
	}
	res, err := hub.Ensure(ctx(t), js, config("a"))
	if err != nil || !res.WindowChanged || res.WindowWas != 0 || hubStream(t, js).Duplicates != time.Hour {
		t.Fatalf("Ensure(a) on a stream without window = %+v, %v, want the window set to 1h", res, err)
	}
}

func TestValidate(t *testing.T) {
	bad := map[string]hub.Config{
		"no window":      func() hub.Config { c := config("a"); c.Duplicates = 0; return c }(),
		"edge twice":     config("a", "a"),
		"edge with dots": config("a.b"),
		"replicas":       func() hub.Config { c := config("a"); c.Replicas = 7; return c }(),
	}
	for name, c := range bad {
		if err := c.ValidateCreate(); !errors.Is(err, usage.Err) {
			t.Errorf("ValidateCreate(%s) = %v, want usage.Err", name, err)
		}
	}
	if err := config("a", "b").ValidateCreate(); err != nil {
		t.Errorf("ValidateCreate(a, b) = %v, want nil", err)
	}
}

func TestCheck(t *testing.T) {
	h := natstest.StartHub(t)
	js := h.JetStream(t)
	a, b := natstest.StartEdge(t, "a", h), natstest.StartEdge(t, "b", h)
	if _, err := hub.Ensure(ctx(t), js, config("a", "b")); err != nil {
		t.Fatal(err)
	}
	cfg := config()
	cfg.EdgeTimeout = time.Second
	var r hub.Report
	poll.Eventually(t, "both sources active", 20*time.Second, func() bool {
		var err error
		r, err = hub.Check(ctx(t), js, cfg, 3*time.Second)
		return err == nil && r.Healthy
	})
	if len(r.Edges) != 2 || r.Edges[0].Edge != "a" || r.Edges[1].Edge != "b" || !r.Edges[0].Declared || !r.Edges[0].Answers {
		t.Fatalf("Check() = %+v, want a and b declared, answering", r)
	}

	b.Stop()
	publish(t, a, "a-1")
	cfg.Edges = []string{"a", "b", "c"}
	poll.Eventually(t, "b silent", 20*time.Second, func() bool {
		var err error
		r, err = hub.Check(ctx(t), js, cfg, 3*time.Second)
		return err == nil && len(r.Edges) == 3 && !r.Edges[1].Active
	})
	got := map[string]hub.EdgeStatus{}
	for _, e := range r.Edges {
		got[e.Edge] = e
	}
	if r.Healthy || !got["a"].Healthy || got["b"].Healthy || got["b"].Answers || got["c"].Declared || got["c"].Healthy {
		t.Fatalf("Check(a, b, c) with b stopped = %+v, want a healthy, b not answering, c not declared", r)
	}
	if !strings.Contains(got["c"].Problem, "no source declared") || !strings.Contains(got["b"].Problem, "does not answer") {
		t.Errorf("problems = b %q, c %q, want each said", got["b"].Problem, got["c"].Problem)
	}
}

func TestCheckSaysASourceNeverHeardFromItsEdge(t *testing.T) {
	h := natstest.StartHub(t)
	h.CreateHubStream(t, natstest.EdgeStream("away", 0), "away") // declared by hand, the edge never there
	cfg := config()
	cfg.EdgeTimeout = 300 * time.Millisecond
	r, err := hub.Check(ctx(t), h.JetStream(t), cfg, 3*time.Second)
	if err != nil || r.Healthy || len(r.Edges) != 1 {
		t.Fatalf("Check() = %+v, %v, want the one declared edge, unhealthy", r, err)
	}
	if e := r.Edges[0]; e.Edge != "away" || !e.Declared || e.Active || e.Silent >= 0 || e.Answers || !strings.Contains(e.Problem, "never heard") {
		t.Errorf("Check() edge = %+v, want away declared, never heard from, not answering", e)
	}
}

// TestEnsureKeepsASourceAddedWhileItWaits: a run waiting for an edge that
// is down must not write back the stream as it read it before the wait,
// dropping a source another run declared meanwhile.
func TestEnsureKeepsASourceAddedWhileItWaits(t *testing.T) {
	h := natstest.StartHub(t)
	js := h.JetStream(t)
	if _, err := hub.Ensure(ctx(t), js, config()); err != nil {
		t.Fatal(err)
	}
	slow := config("slow")
	slow.EdgeTimeout = 2 * time.Second
	done := make(chan error, 1)
	go func() { _, err := hub.Ensure(ctx(t), js, slow); done <- err }()
	quick := config("quick")
	quick.EdgeTimeout = 10 * time.Millisecond
	if _, err := hub.Ensure(ctx(t), js, quick); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range hubStream(t, js).Sources {
		got = append(got, s.Consumer.DeliverSubject)
	}
	if len(got) != 2 {
		t.Errorf("sources after two runs, one waiting while the other added its edge = %v, want slow's and quick's", got)
	}
}
