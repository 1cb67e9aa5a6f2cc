package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// EdgeConfig makes the embedded server an edge: a leaf node of the hub
// cluster, with a JetStream domain of its own, whose stream the hub sources
// through a durable consumer (see EdgeStream).
type EdgeConfig struct {
	// Name is stable and unique per edge: it is the server's name, and
	// names the JetStream domain and the deliver subject the hub's source
	// of this edge is declared with. See ValidateEdgeName.
	Name string
	// Remotes are the hub's leafnode URLs.
	Remotes []string
	// SubjectPrefix is the event subjects' prefix, whose subjects never
	// cross the leaf link: edge publishes must reach the hub through the
	// edge's stream only, or they are stored twice there.
	SubjectPrefix string

	CredsFile string // the leaf user's credentials (JWT) file
	NKeyFile  string // the leaf user's nkey seed file
	User      string
	Password  string

	TLSCA   string // CA bundle that signs the hub's leafnode certificates
	TLSCert string // client certificate, with TLSKey
	TLSKey  string

	// Link, when set, is bound to the server once it started, for the
	// leaf link's state in EdgeMetrics.
	Link *LeafLink
}

// HubConsumer is the durable consumer on an edge's stream through which the
// hub sources it.
const HubConsumer = "HUB"

// edgeNameRE is what one subject token, a domain name and a server name all
// take: no dots, wildcards, spaces or slashes.
var edgeNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidateEdgeName checks that name fits in a subject token and a JetStream
// domain.
func ValidateEdgeName(name string) error {
	if !edgeNameRE.MatchString(name) {
		return fmt.Errorf("edge name %q: want 1 to 64 letters, digits, '-' or '_'", name)
	}
	return nil
}

// EdgeDomain is the JetStream domain of the named edge, through which the
// hub reaches its API as $JS.<domain>.API.
func EdgeDomain(name string) string { return "edge-" + name }

// EdgeDeliverSubject is where the named edge's HUB consumer delivers:
// unique per edge (two edges sharing one lose half their data to each
// other's source) and outside the event subjects, which the leaf link
// does not carry.
func EdgeDeliverSubject(name, stream string) string {
	return "edge-sourcing." + name + "." + stream
}

// edgeOptions sets in opts what makes the server the edge of cfg.
func (cfg *EdgeConfig) edgeOptions(opts *server.Options) error {
	remote, err := cfg.remote()
	if err != nil {
		return err
	}
	opts.ServerName = cfg.Name
	opts.JetStreamDomain = EdgeDomain(cfg.Name)
	// Flow-control replies to the HUB consumer then carry the edge's
	// domain ($JS.FC.<domain>.<account>.<stream>.HUB.<id>) instead of
	// $JS.FC.<stream>.HUB.<id>, which every edge of the hub would
	// subscribe to: each edge would get the others' replies, and one whose
	// 4-character id matched its own pending request would acknowledge, and
	// delete, events the hub never had from it.
	opts.FeatureFlags = map[string]bool{server.FeatureFlagJsAckFormatV2: true}
	opts.LeafNode.ReconnectInterval = leafReconnect
	opts.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
	return nil
}

// legacyFlowControl is every flow-control reply subject of nats-server's
// first format, shared by every edge's HUB consumer of one stream.
const legacyFlowControl = "$JS.FC.*.*.*"

// EdgeFlowControl is the subject of the flow-control replies to the named
// edge's HUB consumer on stream, any account: its leaf user on the hub
// subscribes to these only.
func EdgeFlowControl(name, stream string) string {
	return "$JS.FC." + EdgeDomain(name) + ".*." + stream + "." + HubConsumer + ".*"
}

// leafReconnect is how soon a lost leaf link is dialled again: the backlog
// starts draining that much sooner after the hub is back.
const leafReconnect = time.Second

func (cfg *EdgeConfig) remote() (*server.RemoteLeafOpts, error) {
	deny := []string{cfg.SubjectPrefix + ".>"}
	r := &server.RemoteLeafOpts{
		// The first-format flow-control subject too (see edgeOptions): the
		// server still listens on it, and nothing of this edge uses it.
		DenyImports: append(slices.Clone(deny), legacyFlowControl),
		DenyExports: deny,
		// The hub's advertised addresses may bypass the load balancer or
		// proxy the operator put in between: dial only what was given.
		IgnoreDiscoveredServers: true,
		Credentials:             cfg.CredsFile,
	}
	urls, err := ParseLeafRemotes(cfg.Remotes)
	if err != nil {
		return nil, err
	}
	for _, u := range urls {
		if cfg.User != "" || cfg.Password != "" {
			u.User = url.UserPassword(cfg.User, cfg.Password)
		}
	}
	r.URLs = urls
	if cfg.NKeyFile != "" {
		seed, err := readSeed(cfg.NKeyFile)
		if err != nil {
			return nil, err
		}
		r.Nkey = seed
	}
	tlsConfig, err := cfg.tls()
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		r.TLS, r.TLSConfig = true, tlsConfig
	}
	return r, nil
}

// ParseLeafRemotes reads the hub's leafnode URLs.
func ParseLeafRemotes(remotes []string) ([]*url.URL, error) {
	if len(remotes) == 0 {
		return nil, errors.New("no leaf remote")
	}
	var urls []*url.URL
	for _, raw := range remotes {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Host == "" || u.Port() == "" {
			return nil, fmt.Errorf("leaf remote %q: want a URL with a port, like nats-leaf://hub:7422", RedactURLs(raw))
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// readSeed reads the nkey seed of a seed file, as nats.go does for
// --nats-nkey: the server wants the seed itself.
func readSeed(file string) (string, error) {
	contents, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("leaf nkey seed: %w", err)
	}
	kp, err := nkeys.ParseDecoratedNKey(contents)
	if err != nil {
		return "", fmt.Errorf("leaf nkey seed %s: %w", file, err)
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return "", fmt.Errorf("leaf nkey seed %s: %w", file, err)
	}
	return string(seed), nil
}

// tls is the leaf link's TLS configuration, nil for none.
func (cfg *EdgeConfig) tls() (*tls.Config, error) {
	if cfg.TLSCA == "" && cfg.TLSCert == "" && cfg.TLSKey == "" {
		return nil, nil
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("leaf tls: a client certificate needs both a cert and a key")
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("leaf tls ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("leaf tls ca %s: no PEM certificate in it", cfg.TLSCA)
		}
	}
	if cfg.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("leaf tls: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
