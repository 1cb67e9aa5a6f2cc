// Command storylane-tail prints Storylane sessions from the bridge's stream
// as they arrive, or replays them from a point in time, for people.
package main

import "github.com/storylane-bridge/storylane-bridge/internal/cli"

func main() { cli.Main("storylane-tail", run) }
