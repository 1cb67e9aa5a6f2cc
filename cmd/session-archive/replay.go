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

// replayer rebuilds the archive from the stream's first session. It reads
// what the stream holds with an ordered consumer (no acknowledgements, one
// fsync at the end: the archive's ids, not the durable, are what keep each
// event once), then starts the durable just past what it read. Where it
// cannot (a user that may not create an ordered consumer, an event it
// cannot render, a broker that fails under it), the durable takes over
// from there, as a replay through the durable alone always did.
type replayer struct {
	arc    *archive.Archive
	liner  *cloudevent.Liner
	logger *zap.Logger
}

// prepare runs the replay and points the durable where the archive needs
// it next.
func (r replayer) prepare(ctx context.Context, js jetstream.JetStream, cfg *consume.Config) error {
	next, err := r.read(ctx, js, *cfg)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.logger.Warn("replaying through the durable instead of an ordered consumer", zap.Error(err))
		next = 0
	}
	if err := consume.Reset(ctx, js, cfg.Stream, cfg.Durable); err != nil {
		return err
	}
	cfg.StartSeq, cfg.DeliverAll = next, true // from the first event when next is 0
	return nil
}

// read archives the sessions stored up to the stream's last message now and
// returns the sequence the durable must start at: past them, or at the
// first event it could not render.
func (r replayer) read(ctx context.Context, js jetstream.JetStream, cfg consume.Config) (uint64, error) {
	start := time.Now()
	last, matching, err := r.extent(ctx, js, cfg)
	if err != nil {
		return 0, err
	}
	if matching == 0 {
		return last + 1, nil
	}
	oc, err := js.OrderedConsumer(ctx, cfg.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: cfg.FilterSubjects})
	if err != nil {
		return 0, fmt.Errorf("ordered consumer: %w", err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(2048))
	if err != nil {
		return 0, fmt.Errorf("ordered consumer: %w", err)
	}
	defer it.Stop()
	events := 0
	next := last + 1
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return 0, fmt.Errorf("replay: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return 0, fmt.Errorf("replay: %w", err)
		}
		seq := meta.Sequence.Stream
		line, err := r.liner.Line(msg.Subject(), msg.Headers(), msg.Data())
		if err != nil {
			// The durable delivers it again and dead-letters it.
			r.logger.Warn("the replay stops at an event it cannot archive; the durable goes on from it", zap.Uint64("seq", seq), zap.Error(err))
			next = seq
			break
		}
		if err := r.arc.Put(archive.Day(line.Time), line.ID, line.JSON); err != nil {
			return 0, err
		}
		events++
		if meta.NumPending == 0 || seq >= last {
			next = max(seq, last) + 1
			break
		}
	}
	if err := r.arc.Sync(ctx); err != nil {
		return 0, err
	}
	r.logger.Info("replay read the stream", zap.Int("events", events), zap.Uint64("durable_from", next), zap.Duration("took", time.Since(start)))
	return next, nil
}

// extent is the stream's last sequence and how many of its messages match
// the filter.
func (r replayer) extent(ctx context.Context, js jetstream.JetStream, cfg consume.Config) (last uint64, matching uint64, err error) {
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
	if len(cfg.FilterSubjects) == 0 {
		return 0, 0, errors.New("replay: no filter subject")
	}
	return last, matching, nil
}
