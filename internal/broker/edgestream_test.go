package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/natstest"
	"github.com/storylane-bridge/storylane-bridge/internal/poll"
)

func edgeStreamConfig(name string, budget int64) broker.StreamConfig {
	cfg := streamConfig()
	cfg.MaxBytes = budget
	cfg.Edge = &broker.EdgeStream{DeliverSubject: broker.EdgeDeliverSubject(name, cfg.Name)}
	return cfg
}

func keeper(js jetstream.JetStream, cfg broker.StreamConfig) *broker.StreamKeeper {
	return broker.NewStreamKeeper(broker.NewPublisher(js, cfg.Name), js, cfg, zap.NewNop())
}

func TestEdgeStreamAndHubConsumerCreatedIdempotently(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	cfg := edgeStreamConfig("a", 1<<20)
	for i := range 2 {
		if _, err := keeper(js, cfg).Ensure(ctx(t)); err != nil {
			t.Fatalf("Ensure() #%d in edge mode = %v, want nil", i+1, err)
		}
	}
	s, err := js.Stream(ctx(t), "STORYLANE")
	if err != nil {
		t.Fatal(err)
	}
	sc := s.CachedInfo().Config
	if sc.Retention != jetstream.WorkQueuePolicy || sc.Discard != jetstream.DiscardNew || sc.MaxBytes != 1<<20 || sc.MaxAge != 0 ||
		sc.Storage != jetstream.FileStorage || sc.Replicas != 1 || sc.Duplicates != time.Hour || len(sc.Subjects) != 1 || sc.Subjects[0] != "storylane.>" {
		t.Errorf("edge stream = %+v, want WorkQueue, discard new, 1 MiB, no max age, file, R1, 1h duplicates over storylane.>", sc)
	}
	c, err := js.PushConsumer(ctx(t), "STORYLANE", broker.HubConsumer)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.CachedInfo().Config
	if cc.Durable != "HUB" || cc.DeliverSubject != "edge-sourcing.a.STORYLANE" || cc.AckPolicy != jetstream.AckFlowControlPolicy ||
		!cc.FlowControl || cc.IdleHeartbeat != time.Second || cc.MaxAckPending != 10000 || cc.DeliverPolicy != jetstream.DeliverAllPolicy ||
		cc.AckWait != 0 || len(cc.BackOff) != 0 || cc.MaxDeliver > 0 {
		t.Errorf("HUB consumer = %+v, want durable sourcing's: flow-control acks, 1s heartbeat, 10000 pending, no ack wait, deliver all", cc)
	}
	if info, err := s.Info(ctx(t)); err != nil || info.State.Consumers != 1 {
		t.Errorf("stream info after two starts = %v, %v, want 1 consumer", info, err)
	}
}

// TestEdgeRefusesWhatItCannotUseInPlace: each of these would lose or strand
// events if the bridge changed it, so it is refused for a person to decide.
func TestEdgeRefusesWhatItCannotUseInPlace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, js jetstream.JetStream)
		cfg   broker.StreamConfig
		want  string
	}{
		{"limits stream of a single-machine bridge", func(t *testing.T, js jetstream.JetStream) {
			mustEnsure(t, js, streamConfig())
		}, edgeStreamConfig("a", 1<<20), "new --data-dir"},
		{"another edge's consumer", func(t *testing.T, js jetstream.JetStream) {
			mustEnsure(t, js, edgeStreamConfig("b", 1<<20))
		}, edgeStreamConfig("a", 1<<20), "another --edge-name"},
		{"a pull consumer named HUB", func(t *testing.T, js jetstream.JetStream) {
			if _, err := broker.EnsureStream(ctx(t), js, edgeStreamConfig("a", 1<<20)); err != nil {
				t.Fatal(err)
			}
			if _, err := js.CreateConsumer(ctx(t), "STORYLANE", jetstream.ConsumerConfig{Durable: "HUB", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
				t.Fatal(err)
			}
		}, edgeStreamConfig("a", 1<<20), "pull consumer"},
		{"an edge's stream without edge mode", func(t *testing.T, js jetstream.JetStream) {
			mustEnsure(t, js, edgeStreamConfig("a", 1<<20))
		}, streamConfig(), "backlog is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			js := natstest.Start(t).JetStream(t)
			tt.setup(t, js)
			_, err := keeper(js, tt.cfg).Ensure(ctx(t))
			if !errors.Is(err, broker.ErrConfig) || !broker.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Ensure() = %v, want a permanent ErrConfig saying %q", err, tt.want)
			}
		})
	}
}

func mustEnsure(t *testing.T, js jetstream.JetStream, cfg broker.StreamConfig) {
	t.Helper()
	if _, err := keeper(js, cfg).Ensure(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestFullEdgeRefusesAndIsNotReady: with the hub away the backlog grows to
// the budget; readiness goes first, at 90%, then publishes are refused
// (JetStream error 10077) as ErrStreamFull, never stored over the budget.
func TestFullEdgeRefusesAndIsNotReady(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	const budget = 8 << 10
	k := keeper(js, edgeStreamConfig("a", budget))
	if _, err := k.Ensure(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := k.Ready(ctx(t)); err != nil {
		t.Fatalf("Ready() of an empty edge = %v, want nil", err)
	}
	var err error
	readyFailed := false
	for i := 0; i < 100 && err == nil; i++ {
		if !readyFailed && errors.Is(k.Ready(ctx(t)), broker.ErrBacklogFull) {
			readyFailed = true
		}
		_, err = k.Publish(ctx(t), &nats.Msg{Subject: "storylane.session.known", Data: []byte(strings.Repeat("x", 512)),
			Header: nats.Header{"Nats-Msg-Id": {fmt.Sprint("full-", i)}}})
	}
	if !errors.Is(err, broker.ErrStreamFull) {
		t.Fatalf("Publish into a full edge = %v, want ErrStreamFull", err)
	}
	if !readyFailed {
		t.Error("Ready() stayed nil until the edge was full, want ErrBacklogFull from 90% of the budget")
	}
	s, _ := js.Stream(ctx(t), "STORYLANE")
	info, _ := s.Info(ctx(t))
	if info.State.Bytes > budget || info.State.Msgs == 0 {
		t.Errorf("full edge holds %d events, %d bytes, want some and at most %d bytes", info.State.Msgs, info.State.Bytes, budget)
	}
}

// TestEdgeReadinessRestoresTheHubConsumer: a HUB consumer deleted by hand
// takes the edge out of readiness and is created again.
func TestEdgeReadinessRestoresTheHubConsumer(t *testing.T) {
	t.Parallel()
	js := natstest.Start(t).JetStream(t)
	k := runKeeperOf(t, js, edgeStreamConfig("a", 1<<20))
	if _, err := k.Ensure(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteConsumer(ctx(t), "STORYLANE", broker.HubConsumer); err != nil {
		t.Fatal(err)
	}
	if err := k.Ready(ctx(t)); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("Ready() without the HUB consumer = %v, want ErrConsumerNotFound", err)
	}
	if !poll.Within(10*time.Second, func() bool { return k.Ready(ctx(t)) == nil }) {
		t.Errorf("Ready() = %v 10s after the HUB consumer was deleted, want it re-created", k.Ready(ctx(t)))
	}
}

func TestValidateEdgeName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"bridge-0", true}, {"eu_west_1", true}, {strings.Repeat("x", 64), true},
		{"", false}, {"web.example.com", false}, {"a*", false}, {"a>", false}, {"a b", false}, {"a/b", false}, {strings.Repeat("x", 65), false},
	}
	for _, tt := range tests {
		if err := broker.ValidateEdgeName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateEdgeName(%q) = %v, want ok %t", tt.name, err, tt.ok)
		}
	}
}
