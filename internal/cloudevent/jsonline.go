package cloudevent

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
)

// JSONLine renders e in the structured JSON event format on one line, for
// NDJSON files and terminals. JSON data that spans lines is compacted
// first: whitespace between its tokens goes, every field and value stays
// as it was, in order. Data on one line is kept byte for byte.
func JSONLine(e event.Event) ([]byte, error) {
	if bytes.ContainsAny(e.Data(), "\r\n") {
		// Compact checks the data as it goes; data that is not JSON
		// stays as it is, for the SDK to encode as it encodes such data.
		var compact bytes.Buffer
		compact.Grow(len(e.Data()))
		if err := json.Compact(&compact, e.Data()); err == nil {
			e.DataEncoded = compact.Bytes() // e is a copy: the caller's event is untouched
		}
	}
	line, err := e.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	if bytes.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("encode event %s: the JSON event format spans lines", e.ID())
	}
	return line, nil
}
