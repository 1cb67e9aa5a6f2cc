// Command storylane-send signs a Storylane webhook payload, a built-in sample
// or a file, and POSTs it to a bridge, printing the answer: the end-to-end
// check of a deployment.
package main

import "github.com/storylane-bridge/storylane-bridge/internal/cli"

func main() { cli.Main("storylane-send", run) }
