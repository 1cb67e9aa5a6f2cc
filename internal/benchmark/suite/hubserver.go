package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// hubServer is the hub of edge mode as a nats-server process: JetStream
// domain hub and a leafnode listener, on ports and a store that stay the
// same when it is stopped and started again, as a restarted hub does.
type hubServer struct {
	s               *suite
	dir             string
	port, leafPort  int
	proc            *proc
	nc              *nats.Conn
	js              jetstream.JetStream
	started, backAt time.Time
}

// newHub starts a hub on a fresh store.
func (s *suite) newHub() (*hubServer, error) {
	dir, err := os.MkdirTemp(s.root, "hub")
	if err != nil {
		return nil, err
	}
	h := &hubServer{s: s, dir: dir}
	if h.port, err = freePort(); err != nil {
		return nil, err
	}
	if h.leafPort, err = freePort(); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "hub.conf")
	if err := os.WriteFile(conf, []byte(hubConf(h.port, h.leafPort, filepath.Join(dir, "js"))), 0o644); err != nil {
		return nil, err
	}
	return h, h.start()
}

// hubConf is the hub's configuration: what natstest.Hub runs in-process,
// with room for the bridge's default 1 MiB body and its headers.
func hubConf(port, leafPort int, store string) string {
	return fmt.Sprintf("server_name: hub\nlisten: \"127.0.0.1:%d\"\nmax_payload: 2MB\njetstream { store_dir: %q, domain: hub }\nleafnodes { listen: \"127.0.0.1:%d\" }\n",
		port, store, leafPort)
}

// start starts the hub on its store; backAt is when it was ready for its
// edges again.
func (h *hubServer) start() error {
	h.started = time.Now()
	p, err := h.s.start("nats-server", nil, "-c", filepath.Join(h.dir, "hub.conf"))
	if err != nil {
		return err
	}
	h.proc = p
	if _, err := p.waitFor("Server is ready", 60*time.Second); err != nil {
		return err
	}
	h.backAt = time.Now()
	if h.nc, err = nats.Connect(h.url(), nats.MaxReconnects(-1)); err != nil {
		return err
	}
	h.js, err = jetstream.New(h.nc)
	return err
}

// stop stops the hub, keeping its store.
func (h *hubServer) stop() {
	if h.nc != nil {
		h.nc.Close()
		h.nc = nil
	}
	if h.proc != nil {
		h.proc.stop()
		h.proc = nil
	}
}

// close stops the hub and removes its store.
func (h *hubServer) close() {
	h.stop()
	os.RemoveAll(h.dir)
}

func (h *hubServer) url() string     { return fmt.Sprintf("nats://127.0.0.1:%d", h.port) }
func (h *hubServer) leafURL() string { return fmt.Sprintf("nats-leaf://127.0.0.1:%d", h.leafPort) }

// messages is how many events the hub's stream holds.
func (h *hubServer) messages() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := h.js.Stream(ctx, broker.DefaultStream)
	if err != nil {
		return 0, err
	}
	return st.CachedInfo().State.Msgs, nil
}

// setUp has storylane-hub create the hub's stream with the named edge's
// durable source, as an operator does once the edge is up.
func (h *hubServer) setUp(ctx context.Context, edge string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.s.bin, "storylane-hub"), "--nats-url", h.url(), "--duplicate-window", "1h",
		"--edges", edge, "--edge-timeout", "30s", "--log-level", "warn")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("storylane-hub --edges %s: %w\n%s", edge, err, out)
	}
	return nil
}
