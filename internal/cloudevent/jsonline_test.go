package cloudevent_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
)

func TestJSONLine(t *testing.T) {
	t.Parallel()
	raw := example(t, "known") // pretty-printed over many lines
	e, err := cloudevent.FromSession(session(t, raw), raw, time.Now(), origin)
	if err != nil {
		t.Fatal(err)
	}
	line, err := cloudevent.JSONLine(e)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(line, "\n\r") {
		t.Fatalf("JSONLine(known) = %s, want one line", line)
	}
	var back event.Event
	if err := json.Unmarshal(line, &back); err != nil {
		t.Fatalf("JSONLine(known) does not read back as an event: %v", err)
	}
	var compact bytes.Buffer
	json.Compact(&compact, raw)
	if back.ID() != e.ID() || back.Type() != e.Type() || !bytes.Equal(back.Data(), compact.Bytes()) {
		t.Errorf("JSONLine(known) read back as %v, want the event with its data compacted", back)
	}
	if !bytes.Equal(e.Data(), raw) {
		t.Error("JSONLine changed the event it was given")
	}
}
