package storylane

import (
	"errors"
	"fmt"

	"github.com/valyala/fastjson"
)

// decode checks that raw is one I-JSON value (RFC 7493, see ErrNotIJSON)
// and parses it with p. The value lives in p: it is good until p parses
// again or goes back to its pool.
//
// fastjson parses without building a generic tree, but its parser is
// lenient, so the text is checked first, as encoding/json checks it
// (ValidJSON). Where fastjson and encoding/json would read a valid text
// differently (invalid UTF-8, a lone escaped surrogate, a name given twice)
// the text is not I-JSON, so whatever decode accepts every reader reads
// alike; fuzzing holds decode to encoding/json and to I-JSON.
func decode(p *fastjson.Parser, raw []byte) (*fastjson.Value, error) {
	if !ValidJSON(raw) {
		return nil, errors.New("not JSON")
	}
	if err := checkText(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotIJSON, err)
	}
	v, err := p.ParseBytes(raw)
	if err != nil {
		// Valid JSON, so fastjson's depth limit (300), far past ours: its
		// error repeats one line per level, so it is not passed on.
		return nil, fmt.Errorf("%w: %w", ErrNotIJSON, errDeep)
	}
	if err := checkTree(v, 1); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotIJSON, err)
	}
	return v, nil
}
