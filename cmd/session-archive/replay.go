package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/archive"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
)

// replayWait bounds the wait for the next event of a replay: the stream
// said it holds more, so a silence this long means it lost them (an age
// limit, a purge) or the broker is in trouble, and the durable takes over.
const replayWait = 30 * time.Second

// replayer rebuilds the archive from the stream's first session. It reads
// what the stream holds with an ordered consumer (no acknowledgements, one
// fsync at the end: the archive's ids, not the durable, keep each event
// once), then hands over to the durable:
//
//   - a durable that exists is kept where it is when the replay read
//     everything and archived all of it: what the durable has not settled
//     it delivers again, and the archive skips what the replay wrote;
//   - otherwise the durable starts (again) at the first event the replay
//     did not archive: one it could not render, which the durable then
//     dead-letters, or the first after a read cut short; from the
//     stream's first event when the ordered consumer could not be used at
//     all (a user the broker does not allow one), as a replay through the
//     durable alone always did.
//
// A replayer reads once: when opening the durable fails afterwards and is
// tried again, the read is not repeated.
type replayer struct {
	arc    *archive.Archive
	liner  *cloudevent.Liner
	logger *zap.Logger

	read *replayRead // the read done, nil until then
}

// replayRead is what a replay's read leaves to the durable.
type replayRead struct {
	next     uint64 // the first event not archived; 0: from the stream's first
	complete bool   // everything up to the stream's last message was read
	skipped  int    // events read that could not be archived
}

// prepare runs the replay and points the durable where the archive needs
// it next.
func (r *replayer) prepare(ctx context.Context, js jetstream.JetStream, cfg *consume.Config) error {
	existing, err := durable(ctx, js, *cfg)
	if err != nil {
		return err
	}
	if r.read == nil {
		read, err := r.readStream(ctx, js, *cfg)
		if err != nil {
			return err
		}
		r.read = &read
	}
	if existing != nil && r.read.complete && r.read.skipped == 0 {
		switch p := existing.Config.DeliverPolicy; p {
		case jetstream.DeliverAllPolicy, jetstream.DeliverNewPolicy, jetstream.DeliverByStartSequencePolicy:
			// Asked for what it already is, opening it is no conflict;
			// where it starts only ever mattered when it was created.
			cfg.DeliverAll = p != jetstream.DeliverNewPolicy
			cfg.StartSeq = existing.Config.OptStartSeq
			return nil
		}
	}
	if existing != nil {
		if err := consume.Reset(ctx, js, cfg.Stream, cfg.Durable); err != nil {
			return err
		}
	}
	cfg.StartSeq, cfg.DeliverAll = r.read.next, true // from the first event when next is 0
	return nil
}

// durable is the archive's durable consumer, nil when there is none.
func durable(ctx context.Context, js jetstream.JetStream, cfg consume.Config) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, cfg.Stream, cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	return c.CachedInfo(), nil
}

// readStream archives the sessions stored up to the stream's last message
// now. Only a shutdown, a broken archive or a stream it cannot look at is
// an error; anything that stops the ordered consumer leaves the rest to
// the durable.
func (r *replayer) readStream(ctx context.Context, js jetstream.JetStream, cfg consume.Config) (replayRead, error) {
	start := time.Now()
	last, matching, err := extent(ctx, js, cfg)
	if err != nil {
		return replayRead{}, err
	}
	read := replayRead{next: last + 1, complete: true}
	events := 0
	if matching > 0 {
		read, events, err = r.readMessages(ctx, js, cfg, last)
		if ctx.Err() != nil {
			return replayRead{}, ctx.Err()
		}
		if err != nil && !errors.Is(err, errOrdered) {
			return replayRead{}, err
		}
		if err != nil {
			r.logger.Warn("the replay's ordered consumer stopped; the durable takes over", zap.Error(err),
				zap.Int("events_read", events), zap.Uint64("durable_from", read.next))
		}
	}
	if err := r.arc.Sync(ctx); err != nil {
		return replayRead{}, err
	}
	r.logger.Info("replay read the stream", zap.Int("events", events), zap.Int("not_archivable", read.skipped),
		zap.Bool("complete", read.complete), zap.Uint64("first_not_archived", read.next), zap.Duration("took", time.Since(start)))
	return read, nil
}

// errOrdered marks a failure of the ordered consumer, which the durable
// makes up for.
var errOrdered = errors.New("ordered consumer")

// readMessages puts every session up to last into the archive and says
// where the durable must take over, and how many events it put.
func (r *replayer) readMessages(ctx context.Context, js jetstream.JetStream, cfg consume.Config, last uint64) (replayRead, int, error) {
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
	// takeOver is where the durable starts: the first event not archived.
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
		if line, err := r.liner.Line(msg.Subject(), msg.Headers(), msg.Data()); err != nil {
			if read.skipped == 0 {
				firstSkipped = seq
			}
			read.skipped++
			r.logger.Warn("the replay leaves an event it cannot archive to the durable, which dead-letters it", zap.Uint64("seq", seq), zap.Error(err))
		} else if err := r.arc.Put(archive.EventDay(line.Time, meta.Timestamp), line.ID, line.JSON); err != nil {
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
func extent(ctx context.Context, js jetstream.JetStream, cfg consume.Config) (last uint64, matching uint64, err error) {
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
