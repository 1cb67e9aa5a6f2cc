// Command storylane-hub sets up and checks the hub of edge mode: the hub's
// stream, with an explicit duplicate window, and one durable source per
// edge, declared only once the edge answers.
package main

import (
	"context"
	"io"
	"os"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
)

// main gives run the process's stderr for logs, so that stdout holds the
// report only.
func main() {
	cli.Main("storylane-hub", func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
		return run(ctx, args, getenv, stdout, os.Stderr)
	})
}
