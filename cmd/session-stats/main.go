// Command session-stats keeps demo analytics (sessions, known rate,
// completion, time spent, campaigns, revealed companies) computed from the
// bridge's stream, and serves them as JSON and CSV.
package main

import (
	"context"
	"os"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/stats/follow"
)

func main() {
	// Here, not in run: the limit is the process's, and the tests run
	// session-stats inside their own. The process's end stops the adapter.
	if follow.SetMemoryLimit(os.Getenv) {
		go follow.AdaptMemoryLimit(context.Background(), time.Second)
	}
	cli.Main("session-stats", run)
}
