// Package statstest reads the events of the aggregation tests' datasets.
// It does not import stats, so that stats' own tests can use it.
package statstest

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Event is the event of session s with id id, stored at seq and stored.
func Event(id string, s storylane.Session, seq uint64, stored time.Time) consume.Event {
	return consume.Event{Session: s, StreamSeq: seq, Stored: stored, Header: nats.Header{"ce-id": {id}}}
}

// Events reads an NDJSON dataset, one {"Seq", "Stored", "Body"} a line
// (Body a webhook body as Storylane sends it), into the events the bridge
// would store: each id is the body's, as the bridge makes it, so that a
// line repeated is a webhook delivered again.
func Events(tb testing.TB, file string) []consume.Event {
	tb.Helper()
	f, err := os.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var events []consume.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Seq    uint64
			Stored time.Time
			Body   json.RawMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		s, err := storylane.Parse(line.Body)
		if err != nil {
			tb.Fatalf("%s, seq %d: %v", file, line.Seq, err)
		}
		events = append(events, Event(cloudevent.ID(line.Body), s, line.Seq, line.Stored))
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	return events
}
