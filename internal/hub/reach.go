package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// ErrEdgeUnreachable reports an edge whose HUB consumer does not answer
// through the hub.
var ErrEdgeUnreachable = errors.New("edge does not answer through the hub")

// reachAttempt bounds one request to the edge, so that a wait notices an
// edge coming up soon after it does.
const (
	reachAttempt = time.Second
	reachPause   = 100 * time.Millisecond
)

// WaitReachable waits up to within until the named edge's HUB consumer on
// stream answers a consumer info request sent through nc's server, the
// way the hub's durable source will send its first consumer reset.
//
// A source declared once this returns nil starts forwarding at once;
// declared earlier, its first reset times out (nats-server waits 5 s) and
// forwarding starts after the retry. On nats-server 2.15.2 at the edge,
// that retry could also lose events (docs/edge-findings.md).
func WaitReachable(ctx context.Context, nc *nats.Conn, stream, edge string, within time.Duration) error {
	js, err := jetstream.NewWithDomain(nc, broker.EdgeDomain(edge))
	if err != nil {
		return fmt.Errorf("edge %s: %w", edge, err)
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		err = answers(ctx, js, stream)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: edge %s's %s consumer on %s (%s.CONSUMER.INFO.%s.%s) did not answer within %s: %w",
				ErrEdgeUnreachable, edge, broker.HubConsumer, stream, edgeAPI(edge), stream, broker.HubConsumer, within, err)
		case <-time.After(reachPause):
		}
	}
}

func answers(ctx context.Context, js jetstream.JetStream, stream string) error {
	ctx, cancel := context.WithTimeout(ctx, reachAttempt)
	defer cancel()
	_, err := js.PushConsumer(ctx, stream, broker.HubConsumer)
	return err
}
