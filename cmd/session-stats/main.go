// Command session-stats keeps demo analytics (sessions, known rate,
// completion, time spent, campaigns, revealed companies) computed from the
// bridge's stream, and serves them as JSON and CSV.
package main

import "github.com/storylane-bridge/storylane-bridge/internal/cli"

func main() { cli.Main("session-stats", run) }
