// Command storylane-bridge receives Storylane demo-session webhooks, verifies
// their signature, and stores each as a CloudEvent in a NATS JetStream
// stream: on an embedded JetStream server by default, or on an external NATS
// server or cluster with --nats-url.
package main

import "github.com/storylane-bridge/storylane-bridge/internal/cli"

func main() { cli.Main("storylane-bridge", run) }
