// Command storylane-tail prints Storylane sessions from the bridge's stream
// as they arrive, or replays them from a point in time, for people.
package main

import (
	"context"
	"io"
	"os"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
)

// main gives run the process's stderr too: what tail reads and that it
// waits is said there, so that stdout holds sessions only.
func main() {
	cli.Main("storylane-tail", func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		return run(ctx, args, getenv, stdout, os.Stderr)
	})
}
