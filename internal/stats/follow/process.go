package follow

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/storylane-bridge/storylane-bridge/internal/admin"
	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/httpserver"
	"github.com/storylane-bridge/storylane-bridge/internal/stats/api"
)

// ProcessConfig is session-stats once its flags are read.
type ProcessConfig struct {
	NATS     broker.ConnConfig
	Stream   string
	Subjects broker.Subjects
	// Listen serves the dashboard and the API; AdminListen /metrics, /healthz and /readyz
	// (none when empty), with /debug/pprof when Pprof is set.
	Listen, AdminListen string
	Pprof               bool
	StateDir            string
	SnapshotInterval    time.Duration
	Rebuild             bool
}

// RunProcess is session-stats: it loads the snapshot (unless Rebuild),
// reads the stream from the next sequence, follows it live and serves the
// figures until ctx is done, then writes a last snapshot.
func RunProcess(ctx context.Context, c ProcessConfig, logger *zap.Logger) error {
	agg := Load(c.StateDir, c.Rebuild, logger)
	js, closeConn, err := broker.ConnectJetStream(c.NATS, logger)
	if err != nil {
		return err
	}
	defer closeConn()
	nc := js.Conn()
	reg := admin.NewRegistry()
	m := NewMetrics(reg)
	f := New(js, c.Stream, []string{c.Subjects.Prefix + ".session.*"}, agg, m, logger)
	sctx, stop := context.WithCancel(context.Background()) // outlives ctx: the last snapshot comes after
	defer stop()
	if c.AdminListen != "" {
		var opts []admin.Option
		if c.Pprof {
			opts = append(opts, admin.WithPprof())
		}
		stopped, err := admin.Serve(sctx, c.AdminListen, admin.NewServer(func(context.Context) error {
			switch {
			case !f.CaughtUp():
				return errors.New("catching up with the stream")
			case !nc.IsConnected():
				return broker.ErrNotConnected
			}
			return nil
		}, reg, opts...), logger)
		if err != nil {
			return fmt.Errorf("--admin-listen: %w", err)
		}
		defer func() { stop(); <-stopped }()
	}
	srv, err := httpserver.Listen(httpserver.Config{Addr: c.Listen, Handler: api.Routes(agg), Name: "api",
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		Grace: 5 * time.Second}, logger)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer srv.Shutdown()
	logger.Info("api listening", zap.String("addr", srv.Addr()))
	snapped := make(chan struct{})
	go func() {
		defer close(snapped)
		Snapshots(ctx, c.StateDir, c.SnapshotInterval, agg, m, logger)
	}()
	logger.Info("following the stream", zap.String("stream", c.Stream), zap.Uint64("from", agg.Seq()+1),
		zap.Int64("memory_limit", debug.SetMemoryLimit(-1)))
	runErr := f.Run(ctx)
	if err := srv.Wait(ctx); err != nil && runErr == nil {
		runErr = err
	}
	<-snapped
	logger.Info("stopped", zap.Uint64("seq", agg.Seq()))
	return runErr
}
