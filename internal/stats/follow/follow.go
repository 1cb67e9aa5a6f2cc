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

// idleWait is how long a read waits for an event before it asks the
// server whether it is caught up; checkEvery how often it asks while
// events keep coming; stallLimit how long reads may find nothing while
// events are pending before the read starts over.
const (
	idleWait   = time.Second
	checkEvery = 10 * time.Second
	stallLimit = 10 * time.Second
)

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
	// What the stream holds for it, as the server said when it created the
	// consumer: a first event slow to come is a stall, not being caught up.
	var pending uint64
	if info := oc.CachedInfo(); info != nil {
		pending = info.NumPending
	}
	return f.follow(ctx, it, pending)
}

// follow applies what it reads until ctx is done or the read breaks;
// pending is what the stream holds for it at the start.
func (f *Follower) follow(ctx context.Context, it jetstream.MessagesContext, pending uint64) error {
	checked := time.Now()
	// pending is then what the last event read said the stream held after
	// it, idleFor how long the reads have found none since.
	var idleFor time.Duration
	for ctx.Err() == nil {
		msg, err := it.Next(jetstream.NextMaxWait(idleWait))
		idle := errors.Is(err, nats.ErrTimeout)
		if err != nil && !idle {
			return err
		}
		// An idle wait also times out while the connection is down, and
		// nats.go's ordered consumer follows a stream deleted and created
		// again from the old sequence on: only the server's answer says
		// that nothing is pending in the stream counted.
		if idle || time.Since(checked) >= checkEvery {
			if err := f.verify(ctx); err != nil {
				return err
			}
			checked = time.Now()
		}
		f.metrics.lastRead.SetToCurrentTime()
		if !idle {
			idleFor = 0
			if pending, err = f.apply(msg); err != nil {
				return err
			}
			continue
		}
		// A wait that finds nothing with events pending is a stall (a
		// starved client, say), not being caught up; one that lasts
		// starts a new consumer, which counts the pending anew.
		if idleFor += idleWait; pending > 0 {
			if idleFor >= stallLimit {
				return fmt.Errorf("no event for %s with %d pending", idleFor, pending)
			}
			continue
		}
		f.metrics.lag.Set(0)
		f.markCaughtUp()
	}
	return nil
}

// apply counts msg and returns how many events the stream held after it.
func (f *Follower) apply(msg jetstream.Msg) (pending uint64, err error) {
	meta, err := msg.Metadata()
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
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
	return meta.NumPending, nil
}

func (f *Follower) markCaughtUp() {
	if f.caughtUp.CompareAndSwap(false, true) {
		took := time.Since(f.started)
		f.metrics.rebuild.Set(took.Seconds())
		f.logger.Info("caught up with the stream", zap.Uint64("seq", f.agg.Seq()), zap.Int("events", f.agg.Events()),
			zap.Duration("took", took))
	}
}

// checkBehind rebuilds when the stream is not the one counted (see
// replaced), and records the one that is.
func (f *Follower) checkBehind(ctx context.Context) error {
	info, err := f.info(ctx)
	if err != nil {
		return err
	}
	if f.replaced(info) {
		f.logger.Error("the stream is not the one counted (created again); rebuilding from its first event",
			zap.Time("stream_created", info.Created), zap.Time("counted_created", f.agg.Stream()),
			zap.Uint64("stream_last_seq", info.State.LastSeq), zap.Uint64("applied_seq", f.agg.Seq()))
		f.agg.Reset()
		// Not caught up until the new stream is read: /readyz says so, and
		// the rebuild is timed and logged again.
		f.caughtUp.Store(false)
		f.started = time.Now()
	}
	f.agg.SetStream(info.Created)
	return nil
}

// errReplaced ends a read whose stream was deleted and created again
// under it: the next read rebuilds.
var errReplaced = errors.New("the stream was created again")

// verify asks the server whether the stream read is still the one counted.
func (f *Follower) verify(ctx context.Context) error {
	info, err := f.info(ctx)
	if err != nil {
		return err
	}
	if f.replaced(info) {
		return errReplaced
	}
	return nil
}

func (f *Follower) info(ctx context.Context) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := f.js.Stream(ctx, f.stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", f.stream, err)
	}
	return s.CachedInfo(), nil
}

// replaced reports whether the stream is not the one counted: created
// since (its creation time differs), or ending before the last sequence
// applied (created again before the snapshot kept the creation time). The
// figures would count events it no longer holds and skip its new ones. A
// purge is not a replacement: the sequences go on, and the figures keep
// what was counted.
func (f *Follower) replaced(info *jetstream.StreamInfo) bool {
	applied, counted := f.agg.Seq(), f.agg.Stream()
	return applied > 0 && (!counted.IsZero() && !counted.Equal(info.Created) || info.State.LastSeq < applied)
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
