package main

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/httpserver"
	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
	"github.com/storylane-bridge/storylane-bridge/internal/keyring"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

const synopsis = `Receives Storylane demo-session webhooks on POST /webhooks/storylane, verifies
their x-storylane-signature, and stores each as a CloudEvent in the JetStream
stream: storylane.session.known or storylane.session.unknown, and signed but
invalid payloads on storylane.invalid. Without --nats-url it runs an embedded
JetStream server that stores under --data-dir and listens on --nats-listen.`

type config struct {
	listen          string
	maxBody         int64
	source          string
	publishTimeout  time.Duration
	shutdownTimeout time.Duration
	secretFile      string
	nats            broker.ConnConfig
	natsListen      string
	natsListenAuth  string
	dataDir         string
	syncInterval    string
	placementTags   cli.StringList
	stream          broker.StreamConfig
	edge            edgeFlags
	log             cli.LogConfig

	// Defences and the operators' side.
	adminListen             string
	pprof                   bool
	otlpEndpoint            string
	tlsCert, tlsKey         string
	maxConcurrent           int
	maxPerClient            int
	maxConnections          int
	maxConnectionsPerClient int
	queueTimeout            time.Duration
	maxQueued               int
	maxBufferedBytes        int64
	rateLimit               float64
	rateBurst               int
	trustedProxies          cli.StringList
	allowCIDRs              cli.StringList
	readHeaderTimeout       time.Duration
	readTimeout             time.Duration
	idleTimeout             time.Duration
	maxHeaderBytes          int
	secretReload            time.Duration
	maxPendingAcks          int

	trusted, allowed []netip.Prefix // parsed from the lists above
}

func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	f := cli.NewFlagSet("storylane-bridge", synopsis, stdout)
	f.StringVar(&c.listen, "listen", "BRIDGE_LISTEN", ":8080", "`address` of the webhook and health endpoints")
	f.Int64Var(&c.maxBody, "max-body", "BRIDGE_MAX_BODY", ingress.DefaultMaxBody, "largest webhook body accepted, in `bytes`; larger gets 413 (Storylane's payloads are about 2 KB); below --max-buffered-bytes")
	f.StringVar(&c.source, "source", "BRIDGE_SOURCE", cloudevent.DefaultSource, "CloudEvents `source` of every event")
	f.DurationVar(&c.publishTimeout, "publish-timeout", "BRIDGE_PUBLISH_TIMEOUT", ingress.DefaultPublishTimeout, "how long a webhook waits for JetStream's ack before a 503")
	f.IntVar(&c.maxPendingAcks, "max-pending-acks", "BRIDGE_MAX_PENDING_ACKS", 1024, "events published and not yet acknowledged by JetStream; beyond, webhooks wait, then get 503")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", "BRIDGE_SHUTDOWN_TIMEOUT", 25*time.Second, "how long shutdown waits for requests in flight")
	f.StringVar(&c.secretFile, "secret-file", keyring.EnvSecretFile, "", "`file` of webhook secrets, one per line (instead of $"+keyring.EnvSecret+")")
	f.EnvOnly(keyring.EnvSecret, "webhook secret(s) from Storylane, comma-separated; every one listed is accepted, for rotation")
	f.NATS(&c.nats, "")
	f.StringVar(&c.natsListen, "nats-listen", "BRIDGE_NATS_LISTEN", "127.0.0.1:4222", "embedded broker: client `address` for consumers and the nats CLI; none for no listener")
	f.StringVar(&c.natsListenAuth, "nats-listen-auth", "BRIDGE_NATS_LISTEN_AUTH", broker.ListenAuthNone, "embedded broker: none lets listener clients read without credentials; nkey requires the nkey seed in <data-dir>/"+broker.ReaderKeyFile+" (created 0600). Either way only the bridge may publish events or change the stream")
	f.StringVar(&c.dataDir, "data-dir", "BRIDGE_DATA_DIR", "./data", "embedded broker: `directory` of JetStream's files")
	f.StringVar(&c.syncInterval, "sync-interval", "BRIDGE_SYNC_INTERVAL", "always", "embedded broker: always fsyncs every write before its ack, so a 2xx survives a power cut; or a `duration` between fsyncs (faster; a power cut loses up to that much)")
	c.edge.define(f)
	f.Stream(&c.stream.Name, &c.stream.Subjects)
	f.DurationVar(&c.stream.MaxAge, "stream-max-age", "STREAM_MAX_AGE", 0, "drop events older than this; 0 keeps them forever")
	f.DurationVar(&c.stream.Duplicates, "stream-duplicate-window", "STREAM_DUPLICATE_WINDOW", time.Hour, "window in which a re-delivered webhook is stored once")
	f.IntVar(&c.stream.Replicas, "stream-replicas", "STREAM_REPLICAS", 1, "stream replicas: 1, or 3 on a cluster")
	f.Int64Var(&c.stream.MaxBytes, "stream-max-bytes", "STREAM_MAX_BYTES", 0, "drop the oldest events beyond this many `bytes`; 0 for no limit")
	f.StringVar(&c.stream.PlacementCluster, "stream-placement-cluster", "STREAM_PLACEMENT_CLUSTER", "", "place the stream in this NATS `cluster`")
	f.StringListVar(&c.placementTags, "stream-placement-tags", "STREAM_PLACEMENT_TAGS", "place the stream on servers with all these `tags`, comma-separated")
	f.Logging(&c.log)
	f.Tracing(&c.otlpEndpoint)
	f.StringVar(&c.adminListen, "admin-listen", "ADMIN_LISTEN", "", "`address` of the operators' listener (/metrics, /healthz, /readyz, and /debug/pprof with --pprof), off the public port; empty for none")
	f.Pprof(&c.pprof)
	f.StringVar(&c.tlsCert, "tls-cert", "BRIDGE_TLS_CERT", "", "serve HTTPS with this certificate `file` (and --tls-key)")
	f.StringVar(&c.tlsKey, "tls-key", "BRIDGE_TLS_KEY", "", "private key `file` of --tls-cert")
	f.IntVar(&c.maxConcurrent, "max-concurrent", "BRIDGE_MAX_CONCURRENT", 256, "signed webhooks being stored at once; beyond, a webhook waits its turn (--queue-timeout), then gets 503 with Retry-After; 0 for no bound")
	f.IntVar(&c.maxPerClient, "max-concurrent-per-client", "BRIDGE_MAX_CONCURRENT_PER_CLIENT", 128, "webhooks one client (an address, an IPv6 /64, or behind --trusted-proxies the forwarded address) has in flight, from their first byte; beyond, it waits its turn; 0 for no bound")
	f.DurationVar(&c.queueTimeout, "queue-timeout", "BRIDGE_QUEUE_TIMEOUT", ingress.DefaultQueueTimeout, "how long a webhook over a bound waits for its turn, or for room for its body, before a 503")
	f.IntVar(&c.maxQueued, "max-queued", "BRIDGE_MAX_QUEUED", ingress.DefaultMaxQueued, "webhooks waiting for their turn at once, one client at most half; beyond, 503 at once")
	f.Int64Var(&c.maxBufferedBytes, "max-buffered-bytes", "BRIDGE_MAX_BUFFERED_BYTES", ingress.DefaultMaxBufferedBytes, "request body `bytes` held in memory at once, past 8 KiB a webhook, one client at most an eighth; a body finding no room waits (--queue-timeout), then gets 503; more than --max-body")
	f.IntVar(&c.maxConnections, "max-connections", "BRIDGE_MAX_CONNECTIONS", 4096, "open client connections; at the bound a connection of the client holding the most, waiting for its headers or else idle, longest and over 1s, is closed to make room, and a new one is refused (503) only if all are serving; 0 for no bound")
	f.IntVar(&c.maxConnectionsPerClient, "max-connections-per-client", "BRIDGE_MAX_CONNECTIONS_PER_CLIENT", 1024, "open connections from one address (trusted proxies exempt), made room for as with --max-connections; 0 for no bound")
	f.Float64Var(&c.rateLimit, "rate-limit", "BRIDGE_RATE_LIMIT", 0, "webhooks per second allowed to one client address (429 beyond); 0 for no limit")
	f.IntVar(&c.rateBurst, "rate-burst", "BRIDGE_RATE_BURST", 20, "burst allowed above --rate-limit")
	f.StringListVar(&c.trustedProxies, "trusted-proxies", "BRIDGE_TRUSTED_PROXIES", "`CIDRs` of proxies whose X-Forwarded-For names the client, comma-separated")
	f.StringListVar(&c.allowCIDRs, "allow-cidrs", "BRIDGE_ALLOW_CIDRS", "serve webhooks only to these client `CIDRs`, comma-separated (403 to others)")
	f.DurationVar(&c.readHeaderTimeout, "read-header-timeout", "BRIDGE_READ_HEADER_TIMEOUT", 10*time.Second, "time to read a request's headers")
	f.DurationVar(&c.readTimeout, "read-timeout", "BRIDGE_READ_TIMEOUT", 15*time.Second, "time to read a whole request, body included")
	f.DurationVar(&c.idleTimeout, "idle-timeout", "BRIDGE_IDLE_TIMEOUT", time.Minute, "how long an idle keep-alive connection stays open")
	f.IntVar(&c.maxHeaderBytes, "max-header-bytes", "BRIDGE_MAX_HEADER_BYTES", 32<<10, "largest request header block (431 beyond)")
	f.DurationVar(&c.secretReload, "secret-reload-interval", "BRIDGE_SECRET_RELOAD_INTERVAL", 10*time.Second, "how often the secret file is checked for changes (SIGHUP re-reads it at once)")
	if err := f.Parse(args, getenv); err != nil {
		return config{}, err
	}
	c.nats.Name = "storylane-bridge"
	c.stream.PlacementTags = c.placementTags
	var err error
	if c.trusted, err = ingress.ParsePrefixes(c.trustedProxies); err != nil {
		return config{}, fmt.Errorf("%w: --trusted-proxies: %w", cli.ErrUsage, err)
	}
	if c.allowed, err = ingress.ParsePrefixes(c.allowCIDRs); err != nil {
		return config{}, fmt.Errorf("%w: --allow-cidrs: %w", cli.ErrUsage, err)
	}
	if err := c.edge.resolve(); err != nil {
		return config{}, err
	}
	if err := c.validate(); err != nil {
		return config{}, err
	}
	c.edge.apply(&c)
	return c, nil
}

func (c config) validate() error {
	var problems []string
	if c.maxBody <= 0 || c.maxBody > maxMaxBody {
		problems = append(problems, fmt.Sprintf("--max-body must be between 1 and %d (NATS's largest payload, less room for headers)", maxMaxBody))
	}
	if _, _, err := c.sync(); err != nil {
		problems = append(problems, err.Error())
	}
	if c.publishTimeout <= 0 || c.shutdownTimeout <= 0 {
		problems = append(problems, "--publish-timeout and --shutdown-timeout must be positive")
	}
	if _, err := cloudevent.NewEncoder(cloudevent.Origin{Source: c.source}); err != nil || strings.ContainsAny(c.source, " \t") {
		problems = append(problems, fmt.Sprintf("--source %q is not a URI-reference", c.source))
	}
	if err := c.stream.Subjects.Validate(); err != nil {
		problems = append(problems, "--subject-prefix: "+err.Error())
	}
	if c.stream.Name == "" || strings.ContainsAny(c.stream.Name, " \t.*>/\\") {
		problems = append(problems, fmt.Sprintf("--stream %q: a stream name has no spaces, dots, wildcards or slashes", c.stream.Name))
	}
	if c.stream.Replicas < 1 || c.stream.Replicas > 5 {
		problems = append(problems, "--stream-replicas must be between 1 and 5")
	}
	if c.stream.Duplicates <= 0 || c.stream.MaxAge < 0 || (c.stream.MaxAge > 0 && c.stream.Duplicates > c.stream.MaxAge) {
		problems = append(problems, "--stream-duplicate-window must be positive and no longer than --stream-max-age")
	}
	// A typo is a usage mistake (exit 2); an address in use shows only
	// when binding (exit 1). Empty is "none" for the admin and broker
	// listeners, not for the webhook's.
	for _, l := range [][2]string{{"--listen", c.listen}, {"--admin-listen", c.adminListen}, {"--nats-listen", c.natsListen}} {
		flag, addr := l[0], l[1]
		if (addr == "" && flag != "--listen") || (flag == "--nats-listen" && addr == broker.NoListen) {
			continue
		}
		if err := httpserver.CheckAddr(addr); err != nil {
			problems = append(problems, flag+": "+err.Error())
		}
	}
	if c.natsListenAuth != broker.ListenAuthNone && c.natsListenAuth != broker.ListenAuthNKey {
		problems = append(problems, fmt.Sprintf("--nats-listen-auth %q: want %s or %s", c.natsListenAuth, broker.ListenAuthNone, broker.ListenAuthNKey))
	}
	problems = append(problems, c.edge.problems(&c)...)
	if c.nats.URL == "" && c.dataDir == "" {
		problems = append(problems, "--data-dir is needed for the embedded broker")
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		problems = append(problems, "--tls-cert and --tls-key go together")
	}
	if c.maxConcurrent < 0 || c.maxPerClient < 0 || c.maxConnections < 0 || c.maxConnectionsPerClient < 0 || c.rateLimit < 0 || c.rateBurst < 1 || c.maxHeaderBytes < 1024 {
		problems = append(problems, "--max-concurrent, --max-connections and --rate-limit cannot be negative, --rate-burst is at least 1, --max-header-bytes at least 1024")
	}
	if c.queueTimeout <= 0 || c.maxQueued < 1 {
		problems = append(problems, "--queue-timeout must be positive and --max-queued at least 1")
	}
	if c.maxBufferedBytes <= c.maxBody {
		problems = append(problems, "--max-buffered-bytes must be larger than --max-body")
	}
	if c.maxPendingAcks < 1 {
		problems = append(problems, "--max-pending-acks must be at least 1")
	}
	if c.readHeaderTimeout <= 0 || c.readTimeout <= 0 || c.idleTimeout <= 0 || c.secretReload <= 0 {
		problems = append(problems, "the timeouts and --secret-reload-interval must be positive")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", cli.ErrUsage, strings.Join(problems, "; "))
	}
	return nil
}

// maxMaxBody keeps a body and its headers under nats-server's hard limit of
// 64 MiB per message.
const maxMaxBody = 64<<20 - broker.HeaderRoom

// sync reads --sync-interval.
func (c config) sync() (time.Duration, bool, error) {
	if c.syncInterval == "always" {
		return 0, true, nil
	}
	d, err := time.ParseDuration(c.syncInterval)
	if err != nil || d <= 0 {
		return 0, false, fmt.Errorf("--sync-interval %q: want a positive duration or always", c.syncInterval)
	}
	return d, false, nil
}

// ingress is the webhook endpoint's configuration, its bodies bounded to
// maxBody.
func (cfg config) ingress(maxBody int64) ingress.Config {
	return ingress.Config{
		MaxBody:                maxBody,
		PublishTimeout:         cfg.publishTimeout,
		Origin:                 cloudevent.Origin{Source: cfg.source, DataSchema: schemas.SessionSchemaID},
		Subjects:               cfg.stream.Subjects,
		MaxConcurrent:          cfg.maxConcurrent,
		MaxConcurrentPerClient: cfg.maxPerClient,
		QueueTimeout:           cfg.queueTimeout,
		MaxQueued:              cfg.maxQueued,
		MaxBufferedBytes:       cfg.maxBufferedBytes,
		RateLimit:              cfg.rateLimit,
		RateBurst:              cfg.rateBurst,
		TrustedProxies:         cfg.trusted,
		AllowCIDRs:             cfg.allowed,
	}
}

// embedded is the embedded broker's configuration, with --nats-listen-auth
// made an access rule; none with an external broker.
func (cfg config) embedded() (broker.EmbeddedConfig, error) {
	if cfg.nats.URL != "" {
		return broker.EmbeddedConfig{}, nil
	}
	syncInterval, syncAlways, _ := cfg.sync() // validated with the config
	access, err := listenerAccess(cfg)
	return broker.EmbeddedConfig{
		Listen:       cfg.natsListen,
		DataDir:      cfg.dataDir,
		MaxPayload:   int32(max(cfg.maxBody+broker.HeaderRoom, 1<<20)),
		SyncInterval: syncInterval,
		SyncAlways:   syncAlways,
		Access:       access,
		Edge:         cfg.edge.embedded(),
	}, err
}

// listenerAccess is what the embedded broker's listener lets other
// processes do: read, and with --nats-listen-auth nkey only with the reader
// nkey, whose seed is kept (made at first) under --data-dir.
func listenerAccess(cfg config) (*broker.ListenerAccess, error) {
	access := &broker.ListenerAccess{Stream: cfg.stream.Name, Subjects: cfg.stream.Subjects}
	if cfg.natsListenAuth != broker.ListenAuthNKey || cfg.natsListen == "" || cfg.natsListen == broker.NoListen {
		return access, nil
	}
	pub, err := broker.ReaderKey(filepath.Join(cfg.dataDir, broker.ReaderKeyFile))
	if err != nil {
		return nil, fmt.Errorf("%w: --nats-listen-auth nkey: %w", cli.ErrUsage, err)
	}
	access.ReaderNKey = pub
	return access, nil
}
