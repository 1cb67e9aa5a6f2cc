// Command storylane-loadgen drives signed webhooks at a bridge, closed-loop
// or open-loop, and measures throughput and latency (HDR histogram); with
// --direct it also publishes the same events straight to JetStream, to
// report the broker's own bound beside the bridge's.
package main

import "github.com/storylane-bridge/storylane-bridge/internal/cli"

func main() { cli.Main("storylane-loadgen", run) }
