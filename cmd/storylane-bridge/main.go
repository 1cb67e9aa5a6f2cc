// Command storylane-bridge receives Storylane demo-session webhooks, verifies
// their signature, and stores each as a CloudEvent in a NATS JetStream
// stream: on an embedded JetStream server by default, or on an external NATS
// server or cluster with --nats-url.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(cli.Exit(os.Stderr, "storylane-bridge", err))
}
