package follow

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/stats"
	"github.com/storylane-bridge/storylane-bridge/internal/stats/statefile"
)

type atomicTime struct{ ns atomic.Int64 }

func (t *atomicTime) store(v time.Time) { t.ns.Store(v.UnixNano()) }

func (t *atomicTime) load() time.Time {
	if n := t.ns.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Snapshots writes agg's snapshot into dir every interval until ctx is
// done, then once more; it returns when that last one is written.
func Snapshots(ctx context.Context, dir string, every time.Duration, agg *stats.Aggregates, m *Metrics, logger *zap.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			write(dir, agg, m, logger)
			return
		case <-tick.C:
			write(dir, agg, m, logger)
		}
	}
}

func write(dir string, agg *stats.Aggregates, m *Metrics, logger *zap.Logger) {
	start := time.Now()
	seq, err := statefile.Write(dir, agg)
	if err != nil {
		logger.Error("snapshot not written; the previous one stays", zap.Error(err))
		return
	}
	m.snapshot.last.store(time.Now())
	logger.Debug("snapshot written", zap.Uint64("seq", seq), zap.Duration("took", time.Since(start)))
}

// Load returns the aggregates to start from: the snapshot in dir, or empty
// ones with rebuild, when there is none, or when it cannot be trusted (said
// in an error line: the figures are rebuilt from the stream's first event,
// never counted from a wrong start).
func Load(dir string, rebuild bool, logger *zap.Logger) *stats.Aggregates {
	if rebuild {
		logger.Info("rebuilding from the stream's first event (--rebuild)")
		return stats.New()
	}
	a, err := statefile.Read(dir)
	switch {
	case err == nil:
		logger.Info("resuming from the snapshot", zap.Uint64("seq", a.Seq()), zap.Int("events", a.Events()))
		return a
	case errors.Is(err, statefile.ErrNone):
		logger.Info("no snapshot; building from the stream's first event", zap.String("state_dir", dir))
	default:
		logger.Error("snapshot refused; rebuilding from the stream's first event", zap.Error(err))
	}
	return stats.New()
}
