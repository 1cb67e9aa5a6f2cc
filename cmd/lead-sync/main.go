// Command lead-sync delivers every known Storylane session to an HTTP
// endpoint (a CRM, a Zapier or Make hook, an internal service) as a
// CloudEvent, with an Idempotency-Key, retrying what can be retried and
// dead-lettering the rest.
package main

import "github.com/storylane-bridge/storylane-bridge/internal/cli"

func main() { cli.Main("lead-sync", run) }
