// Package schemas holds the JSON Schema of a Storylane session webhook and
// Storylane's example payloads, embedded in the binary. It lives beside the
// files because go:embed cannot reach a parent folder, and it imports
// nothing of this module: internal/storylane validates payloads against
// the schema.
package schemas

import (
	"bytes"
	"embed"
	"fmt"
)

// SessionSchemaID is the $id of storylane-session.schema.json; events carry
// it as their dataschema.
const SessionSchemaID = "https://github.com/storylane-bridge/storylane-bridge/schemas/storylane-session.schema.json"

//go:embed storylane-session.schema.json
var sessionSchema []byte

//go:embed examples/*.json
var examples embed.FS

// SessionSchema returns the schema document.
func SessionSchema() []byte { return bytes.Clone(sessionSchema) }

// Example returns one of the sample payloads by name ("known", "unknown"),
// byte for byte as Storylane documents them.
func Example(name string) ([]byte, error) {
	b, err := examples.ReadFile("examples/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("example %q: %w", name, err)
	}
	return b, nil
}
