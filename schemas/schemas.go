// Package schemas holds the JSON Schema of a Storylane session webhook and
// Storylane's example payloads, embedded in the binary, and validates
// payloads against the schema. It lives beside the files because go:embed
// cannot reach a parent folder.
package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// SessionSchemaID is the $id of storylane-session.schema.json; events carry
// it as their dataschema.
const SessionSchemaID = "https://github.com/storylane-bridge/storylane-bridge/schemas/storylane-session.schema.json"

//go:embed storylane-session.schema.json
var sessionSchema []byte

//go:embed examples/*.json
var examples embed.FS

// ErrInvalid reports a payload that is not JSON or does not match the schema.
var ErrInvalid = errors.New("invalid storylane payload")

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

// Validator checks payloads against the session schema.
type Validator struct {
	schema  *jsonschema.Schema
	fast    *check // nil when the schema is beyond the compiled subset
	parsers fastjson.ParserPool
	printer *message.Printer
}

// NewValidator compiles the embedded session schema (draft 2020-12).
func NewValidator() (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sessionSchema))
	if err != nil {
		return nil, fmt.Errorf("read session schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(SessionSchemaID, doc); err != nil {
		return nil, fmt.Errorf("add session schema: %w", err)
	}
	sch, err := c.Compile(SessionSchemaID)
	if err != nil {
		return nil, fmt.Errorf("compile session schema: %w", err)
	}
	fast, _ := compile(sch)
	return &Validator{schema: sch, fast: fast, printer: message.NewPrinter(language.English)}, nil
}

// Validate returns nil when raw is one I-JSON value (storylane.Decode)
// matching the schema, and otherwise an error wrapping ErrInvalid whose
// text is a one-line reason fit for a header or a log. The library reads
// any JSON, so a text that is not I-JSON never reaches it.
func (v *Validator) Validate(raw []byte) error {
	p := v.parsers.Get()
	doc, err := storylane.Decode(p, raw)
	ok := err == nil && v.fast != nil && v.fast.valid(doc)
	v.parsers.Put(p)
	if ok {
		return nil
	}
	if errors.Is(err, storylane.ErrNotIJSON) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return v.validate(raw)
}

// ValidateParsed is Validate for a caller that has parsed raw into doc with
// storylane.Decode, so the work is not done twice (and the text is I-JSON).
func (v *Validator) ValidateParsed(raw []byte, doc *fastjson.Value) error {
	if v.fast != nil && v.fast.valid(doc) {
		return nil
	}
	return v.validate(raw)
}

// validate is the library's check: the final word on a payload the
// compiled check could not pass, with the reasons it fails.
func (v *Validator) validate(raw []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%w: not JSON: %v", ErrInvalid, err)
	}
	err = v.schema.Validate(doc)
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		return fmt.Errorf("%w: %s", ErrInvalid, v.reason(verr))
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// maxReasons bounds the reason of a payload with many faults, so it stays a
// reasonable header value.
const maxReasons = 5

// reason flattens the leaves of a validation error into one line. Instance
// locations are quoted because object keys come from the sender and may hold
// any character, line breaks included.
func (v *Validator) reason(verr *jsonschema.ValidationError) string {
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			parts = append(parts, fmt.Sprintf("at %q: %s",
				"/"+strings.Join(e.InstanceLocation, "/"), e.ErrorKind.LocalizedString(v.printer)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(verr)
	if len(parts) > maxReasons {
		parts = append(parts[:maxReasons], fmt.Sprintf("and %d more", len(parts)-maxReasons))
	}
	return strings.Join(parts, "; ")
}
