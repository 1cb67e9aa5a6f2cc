package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/usage"
)

// PublishOptions bound the bridge's publishing: it is asynchronous, each
// webhook waiting for its own ack; the acks outstanding are bounded, and
// one never answered is given up with the webhook.
type PublishOptions struct {
	MaxPendingAcks int
	Timeout        time.Duration
}

// embeddedAttempt bounds the first try on the embedded broker, which is in
// this process and either answers at once or is broken.
const embeddedAttempt = 5 * time.Second

// OpenStream makes sure of the stream and returns its keeper, which stands
// in for the publisher and re-creates the stream if it is deleted later (in
// Run). With wait (an external broker) it waits for the broker instead of
// failing, so the bridge may start first; not for a server that refuses,
// which a person must fix.
func OpenStream(ctx context.Context, nc *nats.Conn, stream StreamConfig, pub PublishOptions, wait bool, logger *zap.Logger) (*StreamKeeper, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(pub.MaxPendingAcks), jetstream.WithPublishAsyncTimeout(pub.Timeout))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	keeper := NewStreamKeeper(NewPublisher(js, stream.Name), js, stream, logger)
	var info *jetstream.StreamInfo
	ensure := func(ctx context.Context) (err error) {
		info, err = keeper.Ensure(ctx)
		return err
	}
	if wait {
		err = Await(ctx, logger, "the stream", ensure)
	} else {
		attempt, cancel := context.WithTimeout(ctx, embeddedAttempt)
		err = ensure(attempt)
		cancel()
		if IsPermanent(err) {
			// As Await says it for an external broker: a person must
			// change the stream or the flags (edge mode's refusals).
			err = fmt.Errorf("%w: the stream: %w", usage.Err, err)
		}
	}
	if err != nil {
		return nil, err
	}
	logger.Info("stream ready", zap.String("stream", info.Config.Name), zap.Strings("subjects", info.Config.Subjects),
		zap.Uint64("messages", info.State.Msgs), zap.Duration("duplicate_window", info.Config.Duplicates))
	return keeper, nil
}
