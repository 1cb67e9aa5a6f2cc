package main

import (
	"fmt"
	"os"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
)

// edgeFlags are edge mode's: the embedded broker as a leaf node of a hub
// cluster, forwarding every event to it (issue 15).
type edgeFlags struct {
	remotes  cli.StringList
	leaf     broker.EdgeConfig
	maxBytes int64
}

// defaultEdgeMaxBytes is the backlog an edge may hold while its hub is
// away: about half a million webhooks of Storylane's 2 KB.
const defaultEdgeMaxBytes = 1 << 30

func (e *edgeFlags) define(f *cli.FlagSet) {
	f.StringListVar(&e.remotes, "leaf-remote", "BRIDGE_LEAF_REMOTE", "edge mode: the hub's leafnode `URL(s)`, comma-separated (e.g. nats-leaf://hub:7422); the embedded broker stores every webhook, then forwards it to the hub's stream")
	f.StringVar(&e.leaf.Name, "edge-name", "BRIDGE_EDGE_NAME", "", "edge mode: this edge's `name`, stable and unique per replica (default: the host name); names the server, the JetStream domain edge-<name> and the hub's deliver subject edge-sourcing.<name>.<stream>")
	f.StringVar(&e.leaf.CredsFile, "leaf-credentials", "BRIDGE_LEAF_CREDENTIALS", "", "edge mode: the leaf user's credentials (JWT) `file`")
	f.StringVar(&e.leaf.NKeyFile, "leaf-nkey", "BRIDGE_LEAF_NKEY", "", "edge mode: the leaf user's nkey seed `file`")
	f.StringVar(&e.leaf.User, "leaf-user", "BRIDGE_LEAF_USER", "", "edge mode: the leaf user's name")
	f.StringVar(&e.leaf.Password, "leaf-password", "BRIDGE_LEAF_PASSWORD", "", "edge mode: the leaf user's password (prefer the variable: flags show in process listings)")
	f.StringVar(&e.leaf.TLSCA, "leaf-tls-ca", "BRIDGE_LEAF_TLS_CA", "", "edge mode: CA bundle `file` that signs the hub's leafnode certificates")
	f.StringVar(&e.leaf.TLSCert, "leaf-tls-cert", "BRIDGE_LEAF_TLS_CERT", "", "edge mode: client certificate `file` for the leaf link's mutual TLS")
	f.StringVar(&e.leaf.TLSKey, "leaf-tls-key", "BRIDGE_LEAF_TLS_KEY", "", "edge mode: client key `file` for the leaf link's mutual TLS")
	f.Int64Var(&e.maxBytes, "edge-max-bytes", "BRIDGE_EDGE_MAX_BYTES", defaultEdgeMaxBytes, "edge mode: `bytes` of webhooks not yet forwarded to the hub the edge may hold; when full, webhooks get 503 with Retry-After (readiness fails from 90%)")
}

func (e *edgeFlags) on() bool { return len(e.remotes) > 0 }

// problems are the usage mistakes of edge mode in c.
func (e *edgeFlags) problems(c *config) []string {
	l := e.leaf
	if !e.on() {
		if l.Name != "" || l.CredsFile != "" || l.NKeyFile != "" || l.User != "" || l.Password != "" || l.TLSCA != "" || l.TLSCert != "" || l.TLSKey != "" {
			return []string{"--edge-name and the --leaf-* flags need --leaf-remote"}
		}
		return nil
	}
	var p []string
	if c.nats.URL != "" {
		p = append(p, "--leaf-remote makes the embedded broker an edge of the hub; it cannot go with --nats-url")
	}
	if _, err := broker.ParseLeafRemotes(e.remotes); err != nil {
		p = append(p, "--leaf-remote: "+err.Error())
	}
	if err := broker.ValidateEdgeName(l.Name); err != nil {
		p = append(p, "--edge-name: "+err.Error()+" (the host name is the default)")
	}
	if (l.TLSCert == "") != (l.TLSKey == "") {
		p = append(p, "--leaf-tls-cert and --leaf-tls-key go together")
	}
	if e.maxBytes < c.maxBody+broker.HeaderRoom {
		p = append(p, "--edge-max-bytes must hold at least one webhook of --max-body and its headers")
	}
	s := c.stream
	if s.MaxAge != 0 || s.MaxBytes != 0 || s.Replicas != 1 || s.PlacementCluster != "" || len(c.placementTags) > 0 {
		p = append(p, "edge mode keeps every webhook until the hub has it, on this machine: --stream-max-age and --stream-max-bytes "+
			"do not apply (--edge-max-bytes bounds the backlog), --stream-replicas is 1, and there is no placement")
	}
	return p
}

// resolve fills in the edge name's default, the host name, before
// validation.
func (e *edgeFlags) resolve() error {
	if !e.on() || e.leaf.Name != "" {
		return nil
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("%w: --edge-name: no host name to default to (%w); set it", cli.ErrUsage, err)
	}
	e.leaf.Name = host
	return nil
}

// apply makes c's stream the edge's, once c is valid.
func (e *edgeFlags) apply(c *config) {
	if !e.on() {
		return
	}
	e.leaf.Remotes = e.remotes
	e.leaf.SubjectPrefix = c.stream.Subjects.Prefix
	c.stream.MaxBytes = e.maxBytes
	c.stream.Edge = &broker.EdgeStream{DeliverSubject: broker.EdgeDeliverSubject(e.leaf.Name, c.stream.Name)}
}

// embedded is the leaf side of the embedded broker's configuration, nil
// outside edge mode.
func (e *edgeFlags) embedded() *broker.EdgeConfig {
	if !e.on() {
		return nil
	}
	leaf := e.leaf
	return &leaf
}
