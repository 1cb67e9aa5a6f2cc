package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EdgeStream is what edge mode asks of the stream beyond StreamConfig:
// WorkQueue retention, so that the stream holds exactly the events the hub
// has not stored yet, bounded by StreamConfig.MaxBytes (the backlog
// budget) and refusing new events when full (discard new) rather than
// dropping unforwarded ones; and the durable HUB consumer the hub's source
// of this edge reads through.
type EdgeStream struct {
	// DeliverSubject is the HUB consumer's (EdgeDeliverSubject).
	DeliverSubject string
}

// HUB consumer settings that durable sourcing (ADR-60, nats-server 2.14
// and later) requires: acks by flow control, whose heartbeat the server
// holds at exactly one second.
const (
	hubHeartbeat     = time.Second
	hubMaxAckPending = 10000
)

// ReadyBacklogShare is the share of the backlog budget past which an edge
// reports itself not ready: a load balancer sends webhooks elsewhere before
// this edge must refuse them.
const ReadyBacklogShare = 0.9

// ErrBacklogFull reports an edge whose backlog is near its budget.
var ErrBacklogFull = errors.New("edge backlog near its budget")

func (e *EdgeStream) hubConsumer() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        HubConsumer,
		Description:    "the hub's durable source of this edge (storylane-bridge edge mode)",
		DeliverSubject: e.DeliverSubject,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckFlowControlPolicy,
		FlowControl:    true,
		IdleHeartbeat:  hubHeartbeat,
		MaxAckPending:  hubMaxAckPending,
		MaxDeliver:     -1,
	}
}

// checkRetention refuses an existing stream whose retention does not fit
// the mode: retention cannot be changed in place, and using the stream as
// it is would lose or strand events.
func checkRetention(info *jetstream.StreamInfo, cfg StreamConfig) error {
	got := info.Config.Retention
	switch {
	case cfg.Edge != nil && got != jetstream.WorkQueuePolicy:
		return fmt.Errorf("%w: stream %s exists with %s retention and %d events; edge mode needs WorkQueue retention "+
			"(an event is deleted once the hub stored it) and retention cannot be changed in place. "+
			"Start the edge on a new --data-dir and keep the old one until its events are read elsewhere, "+
			"or delete the stream (nats stream rm %s) once nobody needs its events",
			ErrConfig, cfg.Name, got, info.State.Msgs, cfg.Name)
	case cfg.Edge == nil && got == jetstream.WorkQueuePolicy:
		return fmt.Errorf("%w: stream %s has WorkQueue retention, an edge's (--leaf-remote) with %d events not yet forwarded to its hub; "+
			"run this bridge in edge mode again until the backlog is 0, then start on a new --data-dir",
			ErrConfig, cfg.Name, info.State.Msgs)
	}
	return nil
}

// ensureHubConsumer creates the HUB consumer when it is missing, and
// refuses one whose settings would not forward every event exactly once
// to this edge's source on the hub: changing it in place could strand or
// re-send a backlog, so a person decides.
func ensureHubConsumer(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	want := cfg.Edge.hubConsumer()
	c, err := js.PushConsumer(ctx, cfg.Name, HubConsumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		if _, err := js.CreatePushConsumer(ctx, cfg.Name, want); err != nil {
			return fmt.Errorf("create consumer %s on stream %s: %w", HubConsumer, cfg.Name, err)
		}
		return nil
	}
	if errors.Is(err, jetstream.ErrNotPushConsumer) {
		return fmt.Errorf("%w: consumer %s on stream %s is a pull consumer; edge mode needs it as the hub's push consumer: delete it (nats consumer rm %s %s)",
			ErrConfig, HubConsumer, cfg.Name, cfg.Name, HubConsumer)
	}
	if err != nil {
		return fmt.Errorf("look up consumer %s on stream %s: %w", HubConsumer, cfg.Name, err)
	}
	return checkHubConsumer(c.CachedInfo().Config, want, cfg.Name)
}

func checkHubConsumer(got, want jetstream.ConsumerConfig, stream string) error {
	if got.DeliverSubject != want.DeliverSubject {
		return fmt.Errorf("%w: consumer %s on stream %s delivers to %s, want %s: this data dir belongs to another --edge-name, "+
			"and the hub sources each edge by its name; start with the edge name it had, or, with its backlog at 0, on a new --data-dir",
			ErrConfig, HubConsumer, stream, got.DeliverSubject, want.DeliverSubject)
	}
	if got.AckPolicy != want.AckPolicy || !got.FlowControl || got.IdleHeartbeat != want.IdleHeartbeat || got.MaxAckPending <= 0 ||
		got.AckWait != 0 || len(got.BackOff) > 0 || got.MaxDeliver > 0 || got.FilterSubject != "" || len(got.FilterSubjects) > 0 ||
		got.DeliverPolicy != want.DeliverPolicy {
		return fmt.Errorf("%w: consumer %s on stream %s is not what the hub's durable source needs (ack policy %s, flow control %t, "+
			"heartbeat %s, max ack pending %d, ack wait %s, max deliver %d, filter %q): once its backlog is forwarded, delete it "+
			"(nats consumer rm %s %s) and restart the bridge to create it",
			ErrConfig, HubConsumer, stream, got.AckPolicy, got.FlowControl, got.IdleHeartbeat, got.MaxAckPending, got.AckWait,
			got.MaxDeliver, got.FilterSubject, stream, HubConsumer)
	}
	return nil
}

// edgeReady reports whether the edge can durably take a webhook: the HUB
// consumer is there (the stream is, as the publisher's readiness found),
// and the backlog is under ReadyBacklogShare of its budget. The hub is
// never asked: its outage is what the backlog is for.
func (k *StreamKeeper) edgeReady(ctx context.Context) error {
	s, err := k.js.Stream(ctx, k.cfg.Name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", k.cfg.Name, err)
	}
	if _, err := k.js.PushConsumer(ctx, k.cfg.Name, HubConsumer); err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			k.trouble()
		}
		return fmt.Errorf("consumer %s on stream %s: %w", HubConsumer, k.cfg.Name, err)
	}
	state := s.CachedInfo().State
	if budget := k.cfg.MaxBytes; budget > 0 && float64(state.Bytes) >= ReadyBacklogShare*float64(budget) {
		return fmt.Errorf("%w: %d events, %d of %d bytes not yet forwarded to the hub", ErrBacklogFull, state.Msgs, state.Bytes, budget)
	}
	return nil
}
