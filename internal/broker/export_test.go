package broker

import "github.com/nats-io/nats-server/v2/server"

// OwnerPassword lets a test try the owner's password over the listener.
func OwnerPassword(e *Embedded) string { return e.owner }

// LeafRemote is the leaf remote an edge's server solicits.
func LeafRemote(cfg *EdgeConfig) (*server.RemoteLeafOpts, error) { return cfg.remote() }
