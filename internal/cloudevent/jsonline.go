package cloudevent

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
)

// JSONLine renders e in the structured JSON event format on one line, for
// NDJSON files and terminals. JSON data is compacted first: whitespace
// between its tokens goes, every field and value stays as it was, in order.
func JSONLine(e event.Event) ([]byte, error) {
	if json.Valid(e.Data()) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, e.Data()); err != nil {
			return nil, fmt.Errorf("compact data of event %s: %w", e.ID(), err)
		}
		e = e.Clone()
		e.DataEncoded = compact.Bytes()
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
