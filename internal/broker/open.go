package broker

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// HeaderRoom is what a message needs beyond its body for the CloudEvents
// headers, so the broker's maximum payload must exceed the largest body by
// it.
const HeaderRoom = 64 << 10

// drainTimeout bounds the wait for a draining connection to close.
const drainTimeout = 10 * time.Second

// Open connects to the external servers of conn.URL or, without one, starts
// the embedded server of embedded and connects to it in-process. The
// returned function drains the connection and stops the embedded server;
// its failures happen when nobody is left to return them to, so it logs
// them.
func Open(conn ConnConfig, embedded EmbeddedConfig, logger *zap.Logger) (*nats.Conn, func(), error) {
	if conn.URL != "" {
		nc, err := Connect(conn, logger)
		if err != nil {
			return nil, nil, err
		}
		logger.Info("using external nats", zap.String("url", RedactURLs(conn.URL)))
		return nc, func() { drain(nc, logger) }, nil
	}
	ns, err := StartEmbedded(embedded, logger)
	if err != nil {
		return nil, nil, err
	}
	stop := func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
	nc, err := ConnectInProcess(ns, conn.Name, logger)
	if err != nil {
		stop()
		return nil, nil, err
	}
	logger.Info("embedded nats started", embeddedFields(ns, embedded)...)
	return nc, func() {
		drain(nc, logger)
		stop()
		logger.Info("embedded nats stopped")
	}, nil
}

func embeddedFields(ns *Embedded, cfg EmbeddedConfig) []zap.Field {
	url := NoListen
	if ns.Addr() != nil {
		url = ns.ClientURL()
	}
	auth := ListenAuthNone
	if cfg.Access != nil && cfg.Access.ReaderNKey != "" {
		auth = ListenAuthNKey
	}
	fields := []zap.Field{zap.String("client_url", url), zap.String("data_dir", cfg.DataDir), zap.String("listen_auth", auth)}
	if auth == ListenAuthNKey {
		fields = append(fields, zap.String("reader_nkey_file", filepath.Join(cfg.DataDir, ReaderKeyFile)))
	}
	if e := cfg.Edge; e != nil {
		fields = append(fields, zap.String("edge_name", e.Name), zap.String("jetstream_domain", EdgeDomain(e.Name)),
			zap.String("leaf_remote", RedactURLs(strings.Join(e.Remotes, ","))))
	}
	return fields
}

func drain(nc *nats.Conn, logger *zap.Logger) {
	if err := Drain(nc, drainTimeout); err != nil {
		logger.Warn("nats drain", zap.Error(err))
	}
}

// BodyLimit is maxBody, lowered to what a broker of maxPayload can take:
// checked before a body is read, a webhook too large for the broker is
// refused at once rather than after its signature.
func BodyLimit(maxBody, maxPayload int64, logger *zap.Logger) int64 {
	limit := maxPayload - HeaderRoom
	if limit >= maxBody {
		return maxBody
	}
	logger.Warn("the broker's max_payload is below --max-body plus room for headers: webhooks over max_body get 413; raise max_payload on the server",
		zap.Int64("max_payload", maxPayload), zap.Int64("max_body", max(limit, 1)))
	return max(limit, 1)
}
