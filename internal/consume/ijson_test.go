package consume_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
	"github.com/storylane-bridge/storylane-bridge/internal/consume"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// An event whose session is not I-JSON (stored by an older bridge, or
// published around it) does not decode, so a consumer dead-letters it
// instead of reading it one way where another reader reads it another.
func TestDecodeRefusesSessionsThatAreNotIJSON(t *testing.T) {
	t.Parallel()
	enc := cloudevent.DefaultEncoder()
	for _, data := range []string{
		`{"id":"a","lead":{"email":"x@example.org"},"lead":null}`,
		"{\"id\":\"a\",\"name\":\"\xff\"}",
		`{"id":"a","name":"\udc00"}`,
		`{"id":"a","x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`,
	} {
		msg, err := enc.Msg("storylane.session.known", storylane.Summary{ID: "a", Known: true}, []byte(data), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, err = consume.DecodeRaw(&jetstream.RawStreamMsg{Subject: msg.Subject, Header: msg.Header, Data: msg.Data, Sequence: 1})
		if !errors.Is(err, storylane.ErrNotIJSON) {
			t.Errorf("DecodeRaw(event with data %.60q) = %v, want ErrNotIJSON", data, err)
		}
	}
}
