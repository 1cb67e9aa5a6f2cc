package ingress_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

// deepLead is a known session nested depth levels deep: the session and
// its lead are two, the arrays under the lead the rest.
func deepLead(id string, depth int) []byte {
	arrays := strings.Repeat("[", depth-2) + strings.Repeat("]", depth-2)
	return []byte(`{"id":"` + id + `","lead":{"email":"a@example.com","extra":` + arrays + `}}`)
}

// A signed payload that readers could read differently from the bridge
// (not I-JSON, RFC 7493) is never a session: 422, and kept on the invalid
// subject byte for byte with the reason.
func TestNotIJSONIsKeptAsInvalid(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	assertKeptAsInvalid(t, h, []invalidCase{
		{"lead twice", []byte(`{"id":"a","lead":{"email":"x@example.org"},"lead":null}`), ijson(`member name "lead" given twice`)},
		{"id twice", []byte(`{"id":"a","name":"Demo","id":"b"}`), ijson(`member name "id" given twice`)},
		{"id twice, once escaped", []byte(`{"id":"a","\u0069d":"b"}`), ijson(`member name "id" given twice`)},
		{"email twice in the lead", []byte(`{"id":"a","lead":{"email":"x@example.org","email":"y@example.org"}}`), ijson(`member name "email" given twice`)},
		{"name twice deep down", []byte(`{"id":"a","extra":[{"k":[{"x":1,"x":2}]}]}`), ijson(`member name "x" given twice`)},
		{"invalid UTF-8", []byte("{\"id\":\"a\",\"lead\":{\"first_name\":\"Jo\xe9\"}}"), ijson("invalid UTF-8 at byte 34")},
		{"encoded surrogate", []byte("{\"id\":\"a\",\"name\":\"\xed\xa0\x80\"}"), ijson("invalid UTF-8")},
		{"lone surrogate escape", []byte(`{"id":"a","name":"\ud800"}`), ijson(`lone surrogate \ud800 at byte 18`)},
		{"nested 65 deep", deepLead("deep-65", 65), ijson("nested deeper than 64 levels")},
		{"nested 1000 deep", deepLead("deep-1000", 1000), ijson("nested deeper than 64 levels")},
		{"number past a double", []byte(`{"id":"a","completion":3E333}`), ijson("number 3E333 out of the range of a double")},
	})
}

// ijson is the reason given for a payload that is not I-JSON.
func ijson(reason string) string { return "not I-JSON (RFC 7493): " + reason }

// Nesting up to the bound is stored as a session.
func TestNested64DeepIsStored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, ingress.Config{})
	body := deepLead("deep-64", 64)
	res := h.post(t, body, sign(body, secret1))
	if res.status != http.StatusOK || res.json(t)["type"] != "storylane.session.known" {
		t.Fatalf("POST 64-deep session = %d %s, want 200 and a known session", res.status, res.body)
	}
	msgs := h.messages(t)
	if len(msgs) != 1 || msgs[0].Subject != "storylane.session.known" || !bytes.Equal(msgs[0].Data, body) {
		t.Errorf("stream holds %d messages, want the body once on storylane.session.known, byte for byte", len(msgs))
	}
}
