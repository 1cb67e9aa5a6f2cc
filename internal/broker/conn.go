package broker

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// ConnConfig says how to reach an external NATS server or cluster.
type ConnConfig struct {
	URL  string // one or more comma-separated server URLs
	Name string // connection name shown by the server

	CredsFile string // JWT user credentials file
	NKeyFile  string // nkey seed file
	User      string
	Password  string

	TLSCA   string // CA bundle that signs the servers' certificates
	TLSCert string // client certificate, with TLSKey
	TLSKey  string

	// InboxPrefix replaces _INBOX for replies, so that a user allowed to
	// subscribe to its own prefix only cannot read other users' replies.
	InboxPrefix string

	// ReconnectWait is the pause between reconnection attempts; 0 keeps
	// the nats.go default.
	ReconnectWait time.Duration

	// A server that stops answering without closing the connection (a
	// frozen process, a powered-off or partitioned host) sends no reset:
	// only these notice it. The connection is abandoned when MaxPingsOut
	// pings sent every PingInterval go unanswered, or when a write cannot
	// finish within WriteTimeout. Zero (or less) means the Default values
	// below.
	PingInterval time.Duration
	MaxPingsOut  int
	WriteTimeout time.Duration
}

// Defaults of the silent-server settings: a silent server is abandoned
// 10 to 15 s after it stops answering (the third ping finds two still
// unanswered), instead of nats.go's 4 to 6 minutes (2 min, 2 pings out). A
// write of one message of --max-body (1 MiB) needs 0.5 MB/s to finish in
// WriteTimeout, which any link to a broker has; nats.go waits a minute.
const (
	DefaultPingInterval = 5 * time.Second
	DefaultMaxPingsOut  = 2
	DefaultWriteTimeout = 2 * time.Second
)

// liveness returns the options that abandon a silent server, with the
// defaults for the settings not set.
func (c ConnConfig) liveness() []nats.Option {
	ping, out, write := c.PingInterval, c.MaxPingsOut, c.WriteTimeout
	if ping <= 0 {
		ping = DefaultPingInterval
	}
	if out <= 0 {
		out = DefaultMaxPingsOut
	}
	if write <= 0 {
		write = DefaultWriteTimeout
	}
	return []nats.Option{
		nats.PingInterval(ping),
		nats.MaxPingsOutstanding(out),
		// Every write to the socket, the background flusher's and a
		// publisher's own, gives up after this; a write cut part way
		// closes the connection (nats.go does that itself).
		nats.FlusherTimeout(write),
		// A flusher write that timed out with nothing written leaves the
		// connection open and its buffered messages dropped: reconnect at
		// once rather than wait for the pings, since a server that read
		// nothing for WriteTimeout is not serving us.
		nats.ReconnectOnFlusherError(),
	}
}

// Connect connects to the servers in cfg.URL. It never gives up: when no
// server answers yet it returns a connection that keeps reconnecting, so
// the bridge can start before its broker and survive the broker's restarts.
func Connect(cfg ConnConfig, logger *zap.Logger) (*nats.Conn, error) {
	opts, err := cfg.authOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.RetryOnFailedConnect(true))
	opts = append(opts, cfg.liveness()...)
	opts = append(opts, commonOptions(cfg.Name, cfg.ReconnectWait, logger)...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", RedactURLs(cfg.URL), err)
	}
	return nc, nil
}

// RedactURLs hides the credentials in a comma-separated list of server URLs,
// so the list can be logged: a password, or a user part standing alone,
// which NATS reads as a token.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		switch {
		case err != nil && strings.Contains(p, "@"):
			parts[i] = "(unparsable url)"
		case err != nil || u.User == nil:
		case hasPassword(u.User):
			parts[i] = u.Redacted()
		default:
			u.User = url.User("redacted")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

func hasPassword(u *url.Userinfo) bool {
	_, ok := u.Password()
	return ok
}

// ConnectInProcess connects to an embedded server without a socket. It
// keeps nats.go's pings and write timeout: an embedded server cannot fall
// silent without the whole process, and a write to it waits on the server
// reading, which a busy server may take longer than a network timeout to do.
// It connects as the server's owner, whom only this process can be.
func ConnectInProcess(ns *Embedded, name string, logger *zap.Logger) (*nats.Conn, error) {
	opts := append(commonOptions(name, 0, logger), nats.InProcessServer(ns.Server), nats.CustomInboxPrefix(BridgeInboxPrefix))
	if ns.owner != "" {
		opts = append(opts, nats.UserInfo(ownerUser, ns.owner))
	}
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

func commonOptions(name string, reconnectWait time.Duration, logger *zap.Logger) []nats.Option {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		// Keep trying after authentication errors too: during a rolling
		// restart a server may refuse a user it will accept moments later.
		nats.IgnoreAuthErrorAbort(),
		// No buffering while disconnected: a publish fails at once and the
		// webhook gets a 503 instead of waiting on a buffer that may never
		// be flushed.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", zap.String("url", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logger.Error("nats error", zap.Error(err))
		}),
	}
	if reconnectWait > 0 {
		opts = append(opts, nats.ReconnectWait(reconnectWait))
	}
	return opts
}

func (c ConnConfig) authOptions() ([]nats.Option, error) {
	var opts []nats.Option
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey seed %s: %w", c.NKeyFile, err)
		}
		opts = append(opts, o)
	}
	if c.User != "" || c.Password != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, errors.New("nats tls: a client certificate needs both a cert and a key")
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	return opts, nil
}

// Drain lets the subscriptions and publishes of nc finish and closes it,
// waiting at most timeout before closing it outright.
func Drain(nc *nats.Conn, timeout time.Duration) error {
	if nc.IsClosed() {
		return nil
	}
	if err := nc.Drain(); err != nil {
		nc.Close()
		return fmt.Errorf("drain nats connection: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for !nc.IsClosed() {
		if time.Now().After(deadline) {
			nc.Close()
			return fmt.Errorf("drain nats connection: not closed after %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// ConnectJetStream is Connect for a consumer binary: it returns the
// connection's JetStream context (its Conn is the connection) and a close
// that drains the connection for up to 10 seconds, logging a failure.
func ConnectJetStream(cfg ConnConfig, logger *zap.Logger) (jetstream.JetStream, func(), error) {
	nc, err := Connect(cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return js, func() {
		if err := Drain(nc, 10*time.Second); err != nil {
			logger.Warn("nats drain", zap.Error(err))
		}
	}, nil
}
