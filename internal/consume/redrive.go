package consume

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// Redrive returns a Consumer that gives each event now on the dead-letter
// subject of cfg.Durable one more attempt with handler, and whose Run returns
// once all of them are settled. What succeeds is acknowledged; what fails is
// dead-lettered again, after the ones re-driven, for a later re-drive. Its
// progress is kept in a durable of its own, named <durable>-redrive.
//
// Anyone allowed to publish dead letters could forge one, so a dead letter
// is only a pointer: it is handled only if the original it names is still
// in the stream, on a subject of cfg.FilterSubjects, with the same data and
// headers. Any other is refused: terminated and counted, never handled.
func Redrive(ctx context.Context, js jetstream.JetStream, cfg Config, handler Handler, logger *zap.Logger, opts ...Option) (*Consumer, error) {
	if newOptions(opts).replay != nil {
		// A wiring mistake that waiting cannot cure: permanent, so
		// RunProcess's wait for the broker ends at once.
		return nil, fmt.Errorf("%w: a re-drive does not replay", broker.ErrConfig)
	}
	if cfg.DeadLetter == "" {
		cfg.DeadLetter = cfg.Durable
	}
	dlq := cfg.Subjects.DeadLetter(cfg.DeadLetter)
	s, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("re-drive %s: %w", dlq, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("re-drive %s: %w", dlq, err)
	}
	sourceFilters := cfg.FilterSubjects
	if len(sourceFilters) == 0 {
		return nil, fmt.Errorf("re-drive %s: no filter subject: the re-driven durable's filter says which originals a dead letter may name", cfg.Durable)
	}
	cfg.Durable += "-redrive"
	cfg.FilterSubjects = []string{dlq}
	cfg.DeliverAll, cfg.StartSeq = true, 0
	c, err := New(ctx, js, cfg, handler, logger, opts...)
	if err != nil {
		return nil, err
	}
	// Dead letters stored from now on, including those of this re-drive,
	// come after the stream's current last message.
	c.stopAt = max(info.State.LastSeq, 1)
	c.origin, c.sourceFilters = s, sourceFilters
	return c, nil
}

// caughtUp reports, for a re-drive, that every dead letter up to stopAt has
// been delivered and settled. Those after stopAt, handed back for the next
// re-drive, may still be pending; any other pending one (held by a process
// that died, or waiting out a nak) is waited for.
func (c *Consumer) caughtUp(ctx context.Context, wg *sync.WaitGroup) bool {
	if c.stopAt == 0 {
		return false
	}
	past := c.pastStopCount()
	if past == 0 {
		info, err := c.consumer().Info(ctx)
		if err != nil || (info.Delivered.Stream < c.stopAt && info.NumPending > 0) {
			return false
		}
	}
	wg.Wait()
	info, err := c.consumer().Info(ctx)
	return err == nil && info.NumAckPending <= past
}

func (c *Consumer) markPastStop(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pastStop == nil {
		c.pastStop = map[uint64]bool{}
	}
	c.pastStop[seq] = true
}

func (c *Consumer) pastStopCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pastStop)
}
