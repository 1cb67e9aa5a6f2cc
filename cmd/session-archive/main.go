// Command session-archive appends every Storylane session, known and
// unknown, to NDJSON files partitioned by day, exactly once, for DuckDB,
// Spark or BigQuery to load.
package main

import "github.com/storylane-bridge/storylane-bridge/internal/cli"

func main() { cli.Main("session-archive", run) }
