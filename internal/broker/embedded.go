package broker

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// EmbeddedConfig configures the in-process JetStream server.
type EmbeddedConfig struct {
	// Listen is the host:port where other processes (consumers, the nats
	// CLI) reach the server; port 0 picks a free one, "" or "none" listens
	// nowhere.
	Listen string
	// DataDir holds JetStream's files; data survives a restart.
	DataDir string
	// MaxPayload is the largest message accepted, 0 for the server default.
	MaxPayload int32
	// SyncInterval is how often JetStream fsyncs its files; 0 keeps the
	// server's default (two minutes). SyncAlways fsyncs every write before
	// it is acknowledged: what a caller that promises durability on one
	// machine wants.
	SyncInterval time.Duration
	SyncAlways   bool
	// Access guards the listener and the server. Nil leaves both open to
	// every client for everything, which only a test that plays the
	// bridge over the listener wants.
	Access *ListenerAccess
	// Edge, when set, makes the server a leaf node of a hub (edge mode).
	Edge *EdgeConfig
}

// Embedded is a running embedded server. Only this process can connect to
// it as its owner, through ConnectInProcess.
type Embedded struct {
	*server.Server
	owner string // the owner's password; empty when the server is open
}

// NoListen is the Listen value for an embedded server that only this
// process reaches; an empty environment variable cannot say it.
const NoListen = "none"

// readyTimeout bounds how long the embedded server may take to start.
const readyTimeout = 10 * time.Second

// StartEmbedded starts a JetStream server in this process and waits until
// it accepts connections. The caller shuts it down with Shutdown and
// WaitForShutdown.
func StartEmbedded(cfg EmbeddedConfig, logger *zap.Logger) (*Embedded, error) {
	opts := &server.Options{
		ServerName:   "storylane-bridge",
		JetStream:    true,
		StoreDir:     cfg.DataDir,
		MaxPayload:   cfg.MaxPayload,
		SyncInterval: cfg.SyncInterval,
		SyncAlways:   cfg.SyncAlways,
		NoSigs:       true, // the bridge owns signal handling
	}
	if cfg.Edge != nil {
		if err := cfg.Edge.edgeOptions(opts); err != nil {
			return nil, fmt.Errorf("embedded nats server: %w", err)
		}
	}
	if cfg.Listen == "" || cfg.Listen == NoListen {
		opts.DontListen = true
	} else {
		host, port, err := splitListen(cfg.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	var owner string
	if cfg.Access != nil {
		var err error
		if owner, err = cfg.Access.authOptions(opts); err != nil {
			return nil, fmt.Errorf("embedded nats server: %w", err)
		}
	}
	if !opts.DontListen && opts.Port != server.RANDOM_PORT {
		if err := checkBindable(cfg.Listen); err != nil {
			return nil, err
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	fatal := make(chan error, 1)
	ns.SetLoggerV2(serverLogger{logger.Sugar().Named("nats-server"), fatal}, false, false, false)
	ns.Start()
	// Start reports what stops it (a port taken since the check above,
	// JetStream unable to use the data dir) through Fatalf and returns;
	// ReadyForConnections would then wait its whole timeout for nothing.
	select {
	case err := <-fatal:
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats server on %q with data in %q: %w", cfg.Listen, cfg.DataDir, err)
	default:
	}
	if !ns.ReadyForConnections(readyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats server on %q with data in %q: not ready after %s", cfg.Listen, cfg.DataDir, readyTimeout)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats server: jetstream did not start (data dir %q)", cfg.DataDir)
	}
	e := &Embedded{Server: ns, owner: owner}
	if cfg.Edge != nil && cfg.Edge.Link != nil {
		cfg.Edge.Link.bind(e)
	}
	return e, nil
}

func splitListen(listen string) (string, int, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("nats listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("nats listen address %q: bad port", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// checkBindable binds listen and lets it go, so that a taken port fails
// at once with the system's error rather than as a server never ready.
func checkBindable(listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("embedded nats server: client listener: %w", err)
	}
	return ln.Close()
}

// serverLogger hands nats-server's log lines to zap, and the first fatal
// one to fatal as well: nats-server logs a fatal error and carries on
// without whatever failed.
type serverLogger struct {
	l     *zap.SugaredLogger
	fatal chan<- error
}

func (s serverLogger) Noticef(format string, v ...any) { s.l.Infof(format, v...) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warnf(format, v...) }
func (s serverLogger) Fatalf(format string, v ...any) {
	s.l.Errorf(format, v...)
	select {
	case s.fatal <- fmt.Errorf(format, v...):
	default:
	}
}
func (s serverLogger) Errorf(format string, v ...any) { s.l.Errorf(format, v...) }
func (s serverLogger) Debugf(format string, v ...any) { s.l.Debugf(format, v...) }
func (s serverLogger) Tracef(format string, v ...any) { s.l.Debugf(format, v...) }
