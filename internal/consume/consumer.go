package consume

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// fetchWait bounds one pull request, and so how long shutdown waits for the
// fetch under way: it is never cancelled, so no delivered message is left
// unhandled until its ack wait runs out.
const fetchWait = time.Second

// Consumer runs a handler over a durable consumer's events.
type Consumer struct {
	cfg     Config
	js      jetstream.JetStream
	handler Handler
	logger  *zap.Logger
	options

	consMu sync.Mutex
	cons   jetstream.Consumer // replaced when the durable is made again
	// stopAt, when set, ends Run once every event up to this stream
	// sequence is settled (a re-drive).
	stopAt uint64
	// pastStop holds the dead letters after stopAt that were delivered and
	// handed back.
	mu       sync.Mutex
	pastStop map[uint64]bool
	parsers  storylane.ParserPool
	// origin and sourceFilters are, for a re-drive, the stream its dead
	// letters' originals are read from and the filter of the durable that
	// dead-lettered them.
	origin        jetstream.Stream
	sourceFilters []string
	refused       ratedLog // refusals, each kind at a bounded rate
}

// New creates or updates the durable consumer cfg describes and returns a
// Consumer that runs handler over it. Several processes may do so with the
// same Durable: they share the events. With WithReplay it first replays
// the stream, under ctx: give it time to read the whole stream.
func New(ctx context.Context, js jetstream.JetStream, cfg Config, handler Handler, logger *zap.Logger, opts ...Option) (*Consumer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	o := newOptions(opts)
	if o.replay.pending() {
		if err := o.replay.prepare(ctx, js, &cfg, logger); err != nil {
			return nil, err
		}
		// The replay may have read the whole stream under ctx; opening
		// the durable gets its usual bound.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, openTimeout)
		defer cancel()
	} else if o.replay != nil {
		o.replay.configure(&cfg)
	}
	cons, err := createOrUpdate(ctx, js, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s: %w", cfg.Durable, cfg.Stream, err)
	}
	c := &Consumer{cfg: cfg, js: js, cons: cons, handler: handler, logger: logger.With(zap.String("consumer", cfg.Durable)),
		options: o, refused: ratedLog{every: refuseLogEvery}}
	if c.metrics != nil {
		for _, o := range []string{outcomeAcked, outcomeRetried, outcomeDeadLettered, outcomeRefused} {
			c.metrics.events.WithLabelValues(cfg.Durable, o) // at zero from the start
		}
	}
	return c, nil
}

// createOrUpdate creates the durable cfg describes or updates it. A durable
// that a replay started at a stream sequence (Config.StartSeq) and that is
// now asked for everything keeps its start: it delivers everything that
// followed what the replay read, and JetStream refuses to move a durable's
// start.
func createOrUpdate(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.Consumer, error) {
	cc := cfg.consumerConfig()
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
	var apiErr *jetstream.APIError
	if err == nil || cc.DeliverPolicy != jetstream.DeliverAllPolicy || !errors.As(err, &apiErr) ||
		apiErr.ErrorCode != jetstream.JSErrCodeConsumerCreate || !strings.Contains(apiErr.Description, "deliver policy") {
		return cons, err
	}
	existing, lookupErr := js.Consumer(ctx, cfg.Stream, cfg.Durable)
	if lookupErr != nil {
		return nil, err
	}
	old := existing.CachedInfo().Config
	if old.DeliverPolicy != jetstream.DeliverByStartSequencePolicy {
		return nil, err // a real conflict: deliver new asked for all
	}
	cc.DeliverPolicy, cc.OptStartSeq = old.DeliverPolicy, old.OptStartSeq
	return js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
}

func (c *Consumer) consumer() jetstream.Consumer {
	c.consMu.Lock()
	defer c.consMu.Unlock()
	return c.cons
}

func (c *Consumer) setConsumer(cons jetstream.Consumer) {
	c.consMu.Lock()
	defer c.consMu.Unlock()
	c.cons = cons
}

// Reset deletes the durable consumer so that New starts it afresh, from the
// first message when cfg.DeliverAll is set. A missing consumer is fine.
func Reset(ctx context.Context, js jetstream.JetStream, stream, durable string) error {
	err := js.DeleteConsumer(ctx, stream, durable)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("reset consumer %s: %w", durable, err)
	}
	return nil
}

// Pending is the number of events not yet delivered to the consumer: its lag.
func (c *Consumer) Pending(ctx context.Context) (uint64, error) {
	info, err := c.consumer().Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("consumer %s info: %w", c.cfg.Durable, err)
	}
	return info.NumPending, nil
}

// Run fetches and handles events until ctx is done. It then stops fetching,
// lets the handlers in flight finish, settles their messages and returns
// nil. Handlers run with a context that shutdown does not cancel.
func (c *Consumer) Run(ctx context.Context) error {
	slots := make(chan struct{}, c.cfg.MaxInFlight)
	handlerCtx := context.WithoutCancel(ctx)
	d := &dispatcher{work: make(chan jetstream.Msg), max: c.cfg.MaxInFlight, run: func(msg jetstream.Msg) {
		defer release(slots, 1)
		c.process(handlerCtx, msg)
	}}
	defer d.close()
	var r retrier
	for ctx.Err() == nil && !c.caughtUp(ctx, &d.inFlight) {
		n := c.acquire(ctx, slots)
		if n == 0 {
			break
		}
		batch, err := c.consumer().Fetch(n, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			release(slots, n)
			c.fetchFailed(ctx, err, &r)
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			d.dispatch(msg)
		}
		release(slots, n-got)
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			c.fetchFailed(ctx, err, &r)
			continue
		}
		r.succeeded(c.logger)
	}
	return nil
}

// dispatcher hands messages to workers, started as they are needed, at
// most max: each lives as long as Run, so it grows its stack once, not once
// per message. Each message dispatched holds a slot, so when max workers
// run one is free or about to be.
type dispatcher struct {
	work     chan jetstream.Msg
	max      int
	started  int
	run      func(jetstream.Msg)
	inFlight sync.WaitGroup // messages dispatched and not yet settled
	workers  sync.WaitGroup
}

func (d *dispatcher) dispatch(msg jetstream.Msg) {
	d.inFlight.Add(1)
	select {
	case d.work <- msg:
		return
	default:
	}
	if d.started == d.max {
		d.work <- msg
		return
	}
	d.started++
	d.workers.Add(1)
	go func() {
		defer d.workers.Done()
		for ; msg != nil; msg = <-d.work {
			// Deferred, so a handler that ends its goroutine (a test's
			// t.FailNow) still lets Run finish.
			func() {
				defer d.inFlight.Done()
				d.run(msg)
			}()
		}
	}()
}

// close waits for the messages in flight, then stops the workers.
func (d *dispatcher) close() {
	d.inFlight.Wait()
	close(d.work)
	d.workers.Wait()
}

// acquire waits for one free slot, then takes every other free one, and
// returns how many it holds; 0 when ctx ended first.
func (c *Consumer) acquire(ctx context.Context, slots chan struct{}) int {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < cap(slots) {
		select {
		case slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func release(slots chan struct{}, n int) {
	for range n {
		<-slots
	}
}
