package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// DefaultNATSURL is where the bridge's embedded broker listens by default.
const DefaultNATSURL = "nats://127.0.0.1:4222"

// NATS defines the flags of a connection to a NATS server, the same in
// every binary; defaultURL is the bridge's embedded broker for consumers,
// and empty for the bridge itself.
func (f *FlagSet) NATS(c *broker.ConnConfig, defaultURL string) {
	f.StringVar(&c.URL, "nats-url", "NATS_URL", defaultURL, "NATS server URL(s), comma-separated")
	f.StringVar(&c.CredsFile, "nats-creds", "NATS_CREDS", "", "NATS user credentials (JWT) `file`")
	f.StringVar(&c.NKeyFile, "nats-nkey", "NATS_NKEY", "", "NATS nkey seed `file`")
	f.StringVar(&c.User, "nats-user", "NATS_USER", "", "NATS user name")
	f.StringVar(&c.Password, "nats-password", "NATS_PASSWORD", "", "NATS password (prefer the variable: flags show in process listings)")
	f.StringVar(&c.TLSCA, "nats-tls-ca", "NATS_TLS_CA", "", "CA bundle `file` that signs the NATS servers' certificates")
	f.StringVar(&c.TLSCert, "nats-tls-cert", "NATS_TLS_CERT", "", "client certificate `file` for NATS mutual TLS")
	f.StringVar(&c.TLSKey, "nats-tls-key", "NATS_TLS_KEY", "", "client key `file` for NATS mutual TLS")
	f.StringVar(&c.InboxPrefix, "nats-inbox-prefix", "NATS_INBOX_PREFIX", "", "private reply `prefix` instead of _INBOX (least-privilege accounts)")
	f.DurationVar(&c.PingInterval, "nats-ping-interval", "NATS_PING_INTERVAL", broker.DefaultPingInterval, "how often to ping the NATS server; a server silent for --nats-max-pings-out more pings is left for another")
	f.IntVar(&c.MaxPingsOut, "nats-max-pings-out", "NATS_MAX_PINGS_OUT", broker.DefaultMaxPingsOut, "unanswered pings after which the NATS server is left for another")
	f.DurationVar(&c.WriteTimeout, "nats-write-timeout", "NATS_WRITE_TIMEOUT", broker.DefaultWriteTimeout, "longest wait for a write to the NATS socket before reconnecting elsewhere; raise it on slow links")
	f.Check(func() error {
		if c.PingInterval <= 0 || c.MaxPingsOut < 1 || c.WriteTimeout <= 0 {
			return fmt.Errorf("--nats-ping-interval and --nats-write-timeout must be positive, --nats-max-pings-out at least 1")
		}
		return nil
	})
}

// Stream defines the flags that name the stream and its subject prefix.
func (f *FlagSet) Stream(name *string, subjects *broker.Subjects) {
	f.StringVar(name, "stream", "STREAM_NAME", broker.DefaultStream, "JetStream stream `name`")
	f.StringVar(&subjects.Prefix, "subject-prefix", "STREAM_SUBJECT_PREFIX", broker.DefaultSubjectPrefix, "first `token(s)` of every subject in the stream")
}

// LogConfig chooses the log encoding and level.
type LogConfig struct {
	Format string // json or console
	Level  string // debug, info, warn or error
}

// Logging defines --log-format and --log-level.
func (f *FlagSet) Logging(c *LogConfig) {
	f.StringVar(&c.Format, "log-format", "LOG_FORMAT", "json", "log `format`: json, or console for people")
	f.StringVar(&c.Level, "log-level", "LOG_LEVEL", "info", "log `level`: debug, info, warn or error")
}

// Log lines are written through a buffer: one write per line would cost a
// system call per webhook. The buffer is written out when it fills, every
// logFlushInterval, at once for a warning or worse, and when the logger
// stops. It is smaller than a pipe's buffer (64 KiB on Linux), so that
// writing it out seldom waits on a slow reader of the logs.
const (
	logBufferSize    = 32 << 10
	logFlushInterval = 100 * time.Millisecond
)

// NewLogger builds the logger of a command, writing to w through a buffer.
// The returned stop writes out what is buffered and ends the buffer's
// timer: a command defers it.
func NewLogger(c LogConfig, w io.Writer) (*zap.Logger, func(), error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --log-level %q: %w", ErrUsage, c.Level, err)
	}
	var enc zapcore.Encoder
	switch strings.ToLower(c.Format) {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		enc = zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	default:
		return nil, nil, fmt.Errorf("%w: --log-format %q: want json or console", ErrUsage, c.Format)
	}
	buf := &zapcore.BufferedWriteSyncer{WS: writeOnly{w: w}, Size: logBufferSize, FlushInterval: logFlushInterval}
	core := urgentCore{zapcore.NewCore(enc, buf, level)}
	return zap.New(core), func() { _ = buf.Stop() }, nil
}

// writeOnly is a log destination whose Sync does nothing: writing the buffer
// out is all a log needs, and fsync of a pipe or a terminal, where logs
// usually go, fails with EINVAL. Its writes never fail either: the buffer
// in front keeps its first error for good, so one failed write (a full
// disk) would silence every line after it; a line that cannot be written
// is lost alone instead.
type writeOnly struct{ w io.Writer }

func (o writeOnly) Write(p []byte) (int, error) {
	o.w.Write(p)
	return len(p), nil
}

func (writeOnly) Sync() error { return nil }

// urgentCore writes warnings and errors out at once, so that an operator
// watching the logs never waits on the buffer for the lines that matter.
type urgentCore struct{ zapcore.Core }

func (c urgentCore) With(fields []zapcore.Field) zapcore.Core { return urgentCore{c.Core.With(fields)} }

func (c urgentCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c urgentCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if err := c.Core.Write(e, fields); err != nil {
		return err
	}
	if e.Level >= zapcore.WarnLevel {
		return c.Core.Sync()
	}
	return nil
}

// Tracing defines --otlp-endpoint, under OpenTelemetry's own variable.
func (f *FlagSet) Tracing(endpoint *string) {
	f.StringVar(endpoint, "otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP `URL` to send traces to (e.g. http://otel-collector:4318); empty for no tracing")
}

// Pprof defines --pprof, the same in every binary with an admin listener:
// the Go profiles are served there only when asked for.
func (f *FlagSet) Pprof(on *bool) {
	f.BoolVar(on, "pprof", "ADMIN_PPROF", false, "serve the Go profiles under /debug/pprof/ on the --admin-listen listener")
}
