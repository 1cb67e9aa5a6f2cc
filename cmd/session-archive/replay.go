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

// errReplayFallback marks a replay the ordered consumer could not do.
var errReplayFallback = errors.New("replay by ordered consumer")

// replayer rebuilds the archive from the stream's first session. It reads
// what the stream holds with an ordered consumer (no acknowledgements, one
// fsync at the end: the archive's ids, not the durable, keep each event
// once). The durable is left where it is: what it has not settled it
// delivers again, and the archive skips what the replay wrote. A durable
// that does not exist yet starts just past what the replay read, or at the
// first event it could not archive, which the durable dead-letters. Where
// the ordered consumer cannot be used (a user not allowed to create one,
// a stream that loses events under it), the durable is started over from
// the first event, as a replay through the durable alone always was.
type replayer struct {
	arc    *archive.Archive
	liner  *cloudevent.Liner
	logger *zap.Logger
}

// prepare runs the replay and points a new durable where the archive needs
// it next.
func (r replayer) prepare(ctx context.Context, js jetstream.JetStream, cfg *consume.Config) error {
	next, err := r.read(ctx, js, *cfg)
	if errors.Is(err, errReplayFallback) && ctx.Err() == nil {
		r.logger.Warn("replaying through the durable instead of an ordered consumer", zap.Error(err))
		if err := consume.Reset(ctx, js, cfg.Stream, cfg.Durable); err != nil {
			return err
		}
		cfg.DeliverAll = true
		return nil
	}
	if err != nil {
		return err
	}
	_, err = js.Consumer(ctx, cfg.Stream, cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cfg.StartSeq = next
		return nil
	case err != nil:
		return fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	return nil
}

// read archives the sessions stored up to the stream's last message now and
// returns the sequence a new durable must start at: just past them, or at
// the first event it could not archive.
func (r replayer) read(ctx context.Context, js jetstream.JetStream, cfg consume.Config) (uint64, error) {
	start := time.Now()
	last, matching, err := r.extent(ctx, js, cfg)
	if err != nil {
		return 0, err
	}
	events, skipped, next := 0, 0, last+1
	if matching > 0 {
		var firstSkipped uint64
		events, skipped, firstSkipped, next, err = r.readMessages(ctx, js, cfg, last)
		if err != nil {
			return 0, err
		}
		if skipped > 0 {
			next = min(next, firstSkipped)
		}
	}
	if err := r.arc.Sync(ctx); err != nil {
		return 0, err
	}
	r.logger.Info("replay read the stream", zap.Int("events", events), zap.Int("not_archivable", skipped),
		zap.Uint64("new_durable_from", next), zap.Duration("took", time.Since(start)))
	return next, nil
}

// readMessages puts every session up to last into the archive. It returns
// how many it put, how many it could not archive and the first of those,
// and the sequence just past the last one read.
func (r replayer) readMessages(ctx context.Context, js jetstream.JetStream, cfg consume.Config, last uint64) (events, skipped int, firstSkipped, next uint64, err error) {
	oc, err := js.OrderedConsumer(ctx, cfg.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: cfg.FilterSubjects,
		MaxResetAttempts: 5, InactiveThreshold: replayWait})
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("%w: %w", errReplayFallback, err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(2048))
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("%w: %w", errReplayFallback, err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)() // a shutdown ends a wait or a reset
	for {
		msg, err := it.Next(jetstream.NextMaxWait(replayWait))
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("%w: after %d events: %w", errReplayFallback, events, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("%w: %w", errReplayFallback, err)
		}
		seq := meta.Sequence.Stream
		if line, err := r.liner.Line(msg.Subject(), msg.Headers(), msg.Data()); err != nil {
			if skipped == 0 {
				firstSkipped = seq
			}
			skipped++
			r.logger.Warn("the replay leaves an event it cannot archive to the durable, which dead-letters it", zap.Uint64("seq", seq), zap.Error(err))
		} else if err := r.arc.Put(archive.Day(line.Time), line.ID, line.JSON); err != nil {
			return 0, 0, 0, 0, err
		} else {
			events++
		}
		if meta.NumPending == 0 || seq >= last {
			return events, skipped, firstSkipped, seq + 1, nil
		}
	}
}

// extent is the stream's last sequence and how many of its messages match
// the filter.
func (r replayer) extent(ctx context.Context, js jetstream.JetStream, cfg consume.Config) (last uint64, matching uint64, err error) {
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
