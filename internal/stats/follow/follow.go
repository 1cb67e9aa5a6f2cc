// Package follow feeds session-stats' aggregates from the stream: an
// ordered consumer (no state on the server, no acknowledgements) from the
// sequence after the last one applied, first catching up, then following
// live; and it keeps the snapshot under the state directory.
package follow

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/stats"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Follower applies the stream's events to its aggregates.
type Follower struct {
	js       jetstream.JetStream
	stream   string
	filters  []string
	agg      *stats.Aggregates
	metrics  *Metrics
	logger   *zap.Logger
	started  time.Time
	caughtUp atomic.Bool
	parser   storylane.Parser // Run's goroutine alone parses
}

// New returns a follower of stream's filters into agg.
func New(js jetstream.JetStream, stream string, filters []string, agg *stats.Aggregates, m *Metrics, logger *zap.Logger) *Follower {
	return &Follower{js: js, stream: stream, filters: filters, agg: agg, metrics: m, logger: logger, started: time.Now()}
}

// CaughtUp reports whether the follower has applied what the stream held
// when it started (or once since).
func (f *Follower) CaughtUp() bool { return f.caughtUp.Load() }

// pullMessages bounds the messages the client buffers: each holds its body
// and its parsed headers, about 2.5 KB for a Storylane session, and 2048
// of them were 5 MB of a rebuild's peak; at 512 a rebuild reads as fast
// (nats.go's default is 500).
const pullMessages = 512

// idleWait is how long a read waits for an event before it counts the
// follower caught up.
const idleWait = time.Second

// Run applies events until ctx is done; a broken read starts over from the
// next sequence after a pause.
func (f *Follower) Run(ctx context.Context) error {
	for {
		err := f.read(ctx)
		if ctx.Err() != nil {
			return nil
		}
		f.logger.Warn("reading the stream; starting over", zap.Uint64("from", f.agg.Seq()+1), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

func (f *Follower) read(ctx context.Context) error {
	if err := f.checkBehind(ctx); err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: f.filters, DeliverPolicy: jetstream.DeliverAllPolicy}
	if seq := f.agg.Seq(); seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	}
	oc, err := f.js.OrderedConsumer(ctx, f.stream, cfg)
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(pullMessages))
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)()
	for ctx.Err() == nil {
		msg, err := it.Next(jetstream.NextMaxWait(idleWait))
		if errors.Is(err, nats.ErrTimeout) {
			f.metrics.lag.Set(0)
			f.markCaughtUp()
			continue
		}
		if err != nil {
			return err
		}
		if err := f.apply(msg); err != nil {
			return err
		}
	}
	return nil
}

func (f *Follower) apply(msg jetstream.Msg) error {
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	e, err := f.decode(msg, meta)
	if err != nil {
		// Only the bridge publishes events; one that does not decode (an
		// older layout, say) is left out of the figures, and said so.
		f.logger.Warn("not an event; not counted", zap.Uint64("seq", meta.Sequence.Stream), zap.Error(err))
		f.agg.Skip(meta.Sequence.Stream)
	} else if f.agg.Apply(e) {
		f.metrics.applied.Inc()
	}
	f.metrics.lag.Set(float64(meta.NumPending))
	if meta.NumPending == 0 {
		f.markCaughtUp()
	}
	return nil
}

func (f *Follower) markCaughtUp() {
	if f.caughtUp.CompareAndSwap(false, true) {
		took := time.Since(f.started)
		f.metrics.rebuild.Set(took.Seconds())
		f.logger.Info("caught up with the stream", zap.Uint64("seq", f.agg.Seq()), zap.Int("events", f.agg.Events()),
			zap.Duration("took", took))
	}
}

// checkBehind rebuilds when the stream ends before the last sequence
// applied: it was deleted and created again (or purged), so the figures
// count events it no longer holds and its new events would be skipped.
func (f *Follower) checkBehind(ctx context.Context) error {
	s, err := f.js.Stream(ctx, f.stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", f.stream, err)
	}
	if last, applied := s.CachedInfo().State.LastSeq, f.agg.Seq(); last < applied {
		f.logger.Error("the stream ends before the last event counted (created again, or purged); rebuilding from its first event",
			zap.Uint64("stream_last_seq", last), zap.Uint64("applied_seq", applied))
		f.agg.Reset()
	}
	return nil
}

// decode reads the event's id from its ce-id header and its session from
// its data, as stored (consume.AsStored's form), without building a
// CloudEvent: that took more than half of a rebuild's time, and the bridge
// checked each event before storing it.
func (f *Follower) decode(msg jetstream.Msg, meta *jetstream.MsgMetadata) (consume.Event, error) {
	e := consume.Event{Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data(), Attempt: meta.NumDelivered,
		StreamSeq: meta.Sequence.Stream, Stored: meta.Timestamp}
	if e.ID() == "" {
		return e, errors.New("no ce-id header")
	}
	s, err := f.parser.Parse(e.Data)
	if err != nil {
		return e, fmt.Errorf("event %s: %w", e.ID(), err)
	}
	e.Session = s
	return e, nil
}
