package storylane

import (
	"errors"
	"fmt"

	"github.com/valyala/fastjson"

	"github.com/storylane-bridge/storylane-bridge/schemas"
)

// ErrInvalid reports a webhook body that is not a valid session: not JSON,
// not I-JSON, or not matching the session schema.
var ErrInvalid = errors.New("invalid storylane payload")

// Reader reads webhook bodies: the one way from a verified body to what
// routing it takes. It is safe for concurrent use.
type Reader struct {
	schema  *schema
	parsers fastjson.ParserPool
}

// NewReader compiles the embedded session schema (draft 2020-12).
func NewReader() (*Reader, error) {
	s, err := compileSchema(schemas.SessionSchemaID, schemas.SessionSchema())
	if err != nil {
		return nil, err
	}
	return &Reader{schema: s}, nil
}

// Read checks that body is one I-JSON value (RFC 7493) matching the session
// schema, and returns its summary. Otherwise the error wraps ErrInvalid and
// its text is a one-line reason fit for a header or a log. The body is
// parsed once, whichever way it goes.
func (r *Reader) Read(body []byte) (Summary, error) {
	p := r.parsers.Get()
	defer r.parsers.Put(p)
	v, err := decode(p, body)
	if err != nil {
		return Summary{}, r.schema.notIJSON(body, err)
	}
	if err := r.schema.validate(v); err != nil {
		return Summary{}, err
	}
	s, err := readSession(v)
	if err != nil {
		// The schema types every field the walk reads, so this is a
		// schema that lost a type: say so rather than route a half-read.
		return Summary{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return s.Summary(), nil
}
