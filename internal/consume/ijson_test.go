package consume

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
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
		msg := enc.Msg("storylane.session.known", storylane.Summary{ID: "a", Known: true}, []byte(data), time.Now())
		var p storylane.Parser
		_, err := decode(&p, msg.Subject, msg.Header, msg.Data)
		if !errors.Is(err, storylane.ErrNotIJSON) {
			t.Errorf("decode(event with data %.60q) = %v, want ErrNotIJSON", data, err)
		}
	}
}
