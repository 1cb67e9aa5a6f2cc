package cli

import (
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

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

// NewLogger builds the logger of a command, writing to w.
func NewLogger(c LogConfig, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: %w", ErrUsage, c.Level, err)
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
		return nil, fmt.Errorf("%w: --log-format %q: want json or console", ErrUsage, c.Format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)), nil
}

// Tracing defines --otlp-endpoint, under OpenTelemetry's own variable.
func (f *FlagSet) Tracing(endpoint *string) {
	f.StringVar(endpoint, "otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP `URL` to send traces to (e.g. http://otel-collector:4318); empty for no tracing")
}
