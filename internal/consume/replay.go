package consume

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Sink keeps the events a replay reads.
type Sink interface {
	// Put keeps one event, handed over as stored (AsStored). An error
	// wrapping ErrPermanent leaves the event to the durable, whose handler
	// dead-letters it; any other ends the replay.
	Put(e Event) error
	// Sync makes what Put kept durable; a replay calls it once, after its
	// last Put.
	Sync(ctx context.Context) error
}

// WithReplay makes New rebuild sink from the stream's first event before it
// opens the durable. The replay reads what the stream holds with an ordered
// consumer (no acknowledgements, one Sync at the end: the sink, not the
// durable, keeps each event once, as the handler must), then hands over to
// the durable:
//
//   - a durable that exists is kept where it is when the replay read
//     everything and kept all of it: what the durable has not settled it
//     delivers again, and the handler skips what the replay kept;
//   - otherwise the durable starts (again) at the first event the replay
//     did not keep: one the sink refused, which the durable then
//     dead-letters, or the first after a read cut short; from the stream's
//     first event when the ordered consumer could not be used at all (a
//     user the broker does not allow one), as a replay through the durable
//     alone would.
//
// The stream is read once: when opening the durable fails afterwards and
// New is called again with the same option, the read is not repeated. A
// re-drive does not replay.
func WithReplay(sink Sink) Option {
	r := &replayer{sink: sink}
	return func(o *options) { o.replay = r }
}

// replayWait bounds the wait for the next event of a replay: the stream
// said it holds more, so a silence this long means it lost them (an age
// limit, a purge) or the broker is in trouble, and the durable takes over.
const replayWait = 30 * time.Second

// openTimeout bounds opening the durable after a replay.
const openTimeout = 5 * time.Second

// replayer is WithReplay's state, kept across calls of New.
type replayer struct {
	sink Sink

	read     *replayRead // the read done, nil until then
	prepared bool        // the durable's start is decided
	// startSeq and deliverAll are that start.
	startSeq   uint64
	deliverAll bool
}

// replayRead is what a replay's read leaves to the durable.
type replayRead struct {
	next     uint64 // the first event not kept; 0: from the stream's first
	complete bool   // everything up to the stream's last message was read
	skipped  int    // events read that the sink refused
}

// pending reports a replay still to read or to decide on: New then needs
// time for the whole stream.
func (r *replayer) pending() bool { return r != nil && !r.prepared }

// configure points cfg where the replay decided the durable starts.
func (r *replayer) configure(cfg *Config) {
	cfg.StartSeq, cfg.DeliverAll = r.startSeq, r.deliverAll
}

// prepare runs the replay and points the durable where the sink needs it
// next.
func (r *replayer) prepare(ctx context.Context, js jetstream.JetStream, cfg *Config, logger *zap.Logger) error {
	existing, err := durableInfo(ctx, js, *cfg)
	if err != nil {
		return err
	}
	if r.read == nil {
		read, err := r.readStream(ctx, js, *cfg, logger)
		if err != nil {
			return err
		}
		r.read = &read
	}
	r.startSeq, r.deliverAll = r.read.next, true // from the first event when next is 0
	if existing != nil && r.read.complete && r.read.skipped == 0 {
		switch p := existing.Config.DeliverPolicy; p {
		case jetstream.DeliverAllPolicy, jetstream.DeliverNewPolicy, jetstream.DeliverByStartSequencePolicy:
			// Asked for what it already is, opening it is no conflict;
			// where it starts only ever mattered when it was created.
			r.startSeq, r.deliverAll = existing.Config.OptStartSeq, p != jetstream.DeliverNewPolicy
			existing = nil
		}
	}
	if existing != nil {
		if err := Reset(ctx, js, cfg.Stream, cfg.Durable); err != nil {
			return err
		}
	}
	r.prepared = true
	r.configure(cfg)
	return nil
}

// durableInfo is the replayed durable's, nil when there is none.
func durableInfo(ctx context.Context, js jetstream.JetStream, cfg Config) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, cfg.Stream, cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	return c.CachedInfo(), nil
}

// readStream puts into the sink the events stored up to the stream's last
// message now. Only a shutdown, a broken sink or a stream it cannot look
// at is an error; anything that stops the ordered consumer leaves the rest
// to the durable.
func (r *replayer) readStream(ctx context.Context, js jetstream.JetStream, cfg Config, logger *zap.Logger) (replayRead, error) {
	start := time.Now()
	last, matching, err := extent(ctx, js, cfg)
	if err != nil {
		return replayRead{}, err
	}
	read := replayRead{next: last + 1, complete: true}
	events := 0
	if matching > 0 {
		read, events, err = r.readMessages(ctx, js, cfg, last, logger)
		if ctx.Err() != nil {
			return replayRead{}, ctx.Err()
		}
		if err != nil && !errors.Is(err, errOrdered) {
			return replayRead{}, err
		}
		if err != nil {
			logger.Warn("the replay's ordered consumer stopped; the durable takes over", zap.Error(err),
				zap.Int("events_read", events), zap.Uint64("durable_from", read.next))
		}
	}
	if err := r.sink.Sync(ctx); err != nil {
		return replayRead{}, err
	}
	logger.Info("replay read the stream", zap.Int("events", events), zap.Int("not_archivable", read.skipped),
		zap.Bool("complete", read.complete), zap.Uint64("first_not_archived", read.next), zap.Duration("took", time.Since(start)))
	return read, nil
}

// errOrdered marks a failure of the ordered consumer, which the durable
// makes up for.
var errOrdered = errors.New("ordered consumer")

// readMessages puts every event up to last into the sink and says where
// the durable must take over, and how many events the sink kept.
func (r *replayer) readMessages(ctx context.Context, js jetstream.JetStream, cfg Config, last uint64, logger *zap.Logger) (replayRead, int, error) {
	var read replayRead // next 0: nothing read yet, from the first
	events := 0
	oc, err := js.OrderedConsumer(ctx, cfg.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: cfg.FilterSubjects,
		MaxResetAttempts: 5, InactiveThreshold: replayWait})
	if err != nil {
		return read, 0, fmt.Errorf("%w: %w", errOrdered, err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(2048))
	if err != nil {
		return read, 0, fmt.Errorf("%w: %w", errOrdered, err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)() // a shutdown ends a wait or a reset
	var lastRead, firstSkipped uint64
	// takeOver is where the durable starts: the first event not kept.
	takeOver := func() uint64 {
		if read.skipped > 0 {
			return firstSkipped
		}
		return lastRead + 1
	}
	for ctx.Err() == nil {
		msg, err := it.Next(jetstream.NextMaxWait(replayWait))
		if err != nil {
			if lastRead > 0 {
				read.next = takeOver()
			}
			return read, events, fmt.Errorf("%w: after %d events: %w", errOrdered, events, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return read, events, fmt.Errorf("%w: %w", errOrdered, err)
		}
		seq := meta.Sequence.Stream
		if err := r.sink.Put(stored(msg, meta)); errors.Is(err, ErrPermanent) {
			if read.skipped == 0 {
				firstSkipped = seq
			}
			read.skipped++
			logger.Warn("the replay leaves an event it cannot archive to the durable, which dead-letters it", zap.Uint64("seq", seq), zap.Error(err))
		} else if err != nil {
			return replayRead{}, events, err
		} else {
			events++
		}
		lastRead = seq
		if meta.NumPending == 0 || seq >= last {
			read.next, read.complete = takeOver(), true
			return read, events, nil
		}
	}
	return replayRead{}, events, ctx.Err()
}

// extent is the stream's last sequence and how many of its messages match
// the filter.
func extent(ctx context.Context, js jetstream.JetStream, cfg Config) (last uint64, matching uint64, err error) {
	if len(cfg.FilterSubjects) == 0 {
		return 0, 0, errors.New("replay: no filter subject")
	}
	s, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return 0, 0, fmt.Errorf("stream %s: %w", cfg.Stream, err)
	}
	for _, filter := range cfg.FilterSubjects {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return 0, 0, fmt.Errorf("stream %s: %w", cfg.Stream, err)
		}
		last = info.State.LastSeq
		for _, n := range info.State.Subjects {
			matching += n
		}
	}
	return last, matching, nil
}
