package storylane

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schema is the session schema twice over: the library's compiled schema,
// which has the final word and the reasons, and the compiled check of
// fastcheck.go, which passes the common case without building a generic
// tree (about 20 µs a webhook).
type schema struct {
	lib     *jsonschema.Schema
	fast    *check // nil when the schema is beyond the compiled subset
	printer *message.Printer
}

func compileSchema(id string, doc []byte) (*schema, error) {
	d, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("read schema %s: %w", id, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(id, d); err != nil {
		return nil, fmt.Errorf("add schema %s: %w", id, err)
	}
	lib, err := c.Compile(id)
	if err != nil {
		return nil, fmt.Errorf("compile schema %s: %w", id, err)
	}
	fast, _ := compile(lib)
	return &schema{lib: lib, fast: fast, printer: message.NewPrinter(language.English)}, nil
}

// validate checks v, parsed by decode, and says why it does not match.
func (s *schema) validate(v *fastjson.Value) error {
	if s.fast != nil && s.fast.valid(v) {
		return nil
	}
	return s.library(generic(v))
}

// library is the library's check of doc, a generic tree as
// jsonschema.UnmarshalJSON builds it.
func (s *schema) library(doc any) error {
	err := s.lib.Validate(doc)
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		return fmt.Errorf("%w: %s", ErrInvalid, s.reason(verr))
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// notIJSON is the reason for raw, which decode refused with err. Text that
// is not JSON at all gets encoding/json's reason, from the only parse it
// takes.
func (s *schema) notIJSON(raw []byte, err error) error {
	if errors.Is(err, ErrNotIJSON) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, jerr := jsonschema.UnmarshalJSON(bytes.NewReader(raw)); jerr != nil {
		return fmt.Errorf("%w: not JSON: %v", ErrInvalid, jerr)
	}
	return fmt.Errorf("%w: %w", ErrInvalid, err)
}

// maxReasons bounds the reason of a payload with many faults, so it stays a
// reasonable header value.
const maxReasons = 5

// reason flattens the leaves of a validation error into one line. Instance
// locations are quoted because object keys come from the sender and may hold
// any character, line breaks included.
func (s *schema) reason(verr *jsonschema.ValidationError) string {
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			parts = append(parts, fmt.Sprintf("at %q: %s",
				"/"+strings.Join(e.InstanceLocation, "/"), e.ErrorKind.LocalizedString(s.printer)))
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

// generic is v as jsonschema.UnmarshalJSON would read its text (numbers as
// written), so the library checks the parse decode made instead of parsing
// again. Strings are read through fastjson's accessors, which unescape;
// FuzzDecode holds the result to encoding/json.
func generic(v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		m := make(map[string]any, o.Len())
		o.Visit(func(k []byte, f *fastjson.Value) { m[string(k)] = generic(f) })
		return m
	case fastjson.TypeArray:
		elems := v.GetArray()
		a := make([]any, len(elems))
		for i, e := range elems {
			a[i] = generic(e)
		}
		return a
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b)
	case fastjson.TypeNumber:
		return json.Number(v.MarshalTo(nil))
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	}
	return nil
}
