package storylane_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func TestParseExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		known bool
	}{
		{"known.json", true},
		{"unknown.json", false},
	}
	for _, tt := range tests {
		s, err := storylane.Parse(example(t, tt.file))
		if err != nil {
			t.Fatalf("Parse(%s) error: %v", tt.file, err)
		}
		if s.ID != "2f37f8ce-6ecb-49a2-be12-36ae9c063042" {
			t.Errorf("Parse(%s).ID = %q, want the example's id", tt.file, s.ID)
		}
		if got := s.Known(); got != tt.known {
			t.Errorf("Parse(%s).Known() = %v, want %v", tt.file, got, tt.known)
		}
		vt, ok := s.ViewedTime()
		want := time.Date(2024, 5, 17, 10, 58, 5, 337e6, time.UTC)
		if !ok || !vt.Equal(want) {
			t.Errorf("Parse(%s).ViewedTime() = %v, %v, want %v, true", tt.file, vt, ok, want)
		}
	}
	s, _ := storylane.Parse(example(t, "known.json"))
	if s.Lead.Email != "john.doe@example.com" || s.Lead.ClientTrackingID != nil || s.UTMParams["gclid"] != "123xyz" ||
		s.BuyerReveal.CompanyName != "Acme Inc" || s.Completion != "30" {
		t.Errorf("Parse(known.json) = %+v, want lead, company and completion read", s)
	}
}

func TestKnown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		payload string
		want    bool
	}{
		{`{"id":"s"}`, false},
		{`{"id":"s","lead":null,"buyer_reveal":null}`, false},
		{`{"id":"s","lead":{"email":"a@example.com"}}`, true},
		{`{"id":"s","lead":null,"buyer_reveal":{"company_name":"Acme"}}`, true},
		{`{"id":"s","lead":{},"buyer_reveal":null}`, true},
		{`{"id":"s","buyer_reveal":{}}`, true},
		{`{"id":"s","leads":{"x":1},"unknown_field":[1,2]}`, false},
		{`{"id":"s","Lead":{"email":"a@example.com"},"BUYER_REVEAL":{}}`, false},
		{`{"id":"s","lead":null,"Lead":{}}`, false},
	}
	for _, tt := range tests {
		s, err := storylane.Parse([]byte(tt.payload))
		if err != nil {
			t.Fatalf("Parse(%s) error: %v", tt.payload, err)
		}
		if got := s.Known(); got != tt.want {
			t.Errorf("Parse(%s).Known() = %v, want %v", tt.payload, got, tt.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `not json`, `[]`, `null`, `{}`, `{"id":""}`, `{"id":7}`, `{"id":"s"`, `{"id":"s","lead":"yes"}`, `{"ID":"s"}`, `{"Id":"s","id":""}`} {
		if _, err := storylane.Parse([]byte(in)); !errors.Is(err, storylane.ErrNotSession) {
			t.Errorf("Parse(%q) = %v, want %v", in, err, storylane.ErrNotSession)
		}
	}
}

func TestViewedTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		ok   bool
		want time.Time
	}{
		{"", false, time.Time{}},
		{"yesterday", false, time.Time{}},
		{"2024-05-17", false, time.Time{}},
		{"2024-05-17T10:58:05Z", true, time.Date(2024, 5, 17, 10, 58, 5, 0, time.UTC)},
		{"2024-05-17T12:58:05.5+02:00", true, time.Date(2024, 5, 17, 10, 58, 5, 5e8, time.UTC)},
	}
	for _, tt := range tests {
		got, ok := storylane.Session{ViewedAt: tt.in}.ViewedTime()
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ViewedTime(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(example(f, "known.json"))
	f.Add(example(f, "unknown.json"))
	f.Add([]byte(`{"id":"x","lead":null}`))
	f.Add([]byte(`{"id":""}`))
	f.Add([]byte(`{"id":"\ud800\u0041\ud83d\ude00","Lead":{},"lead":null}`))
	f.Add([]byte("{\"id\":\"a\xffb\\\\ud800\"}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := storylane.Parse(raw)
		if err != nil {
			if !errors.Is(err, storylane.ErrNotSession) {
				t.Fatalf("Parse(%q) = %v, want an error wrapping ErrNotSession", raw, err)
			}
			return
		}
		if s.ID == "" {
			t.Fatalf("Parse(%q) accepted a session without an id", raw)
		}
		// encoding/json, which the schema validator uses, reads the same.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("Parse(%q) accepted what encoding/json refuses: %v", raw, err)
		}
		var id string
		if err := json.Unmarshal(m["id"], &id); err != nil || id != s.ID {
			t.Fatalf("Parse(%q).ID = %q, encoding/json reads %q, %v", raw, s.ID, id, err)
		}
		var p storylane.Parser
		if again, err := p.Parse(raw); err != nil || again.Summary() != s.Summary() {
			t.Fatalf("Parser.Parse(%q) = %+v, %v, want %+v as Parse reads it", raw, again.Summary(), err, s.Summary())
		}
		set := func(k string) bool { v, ok := m[k]; return ok && string(v) != "null" }
		if known := set("lead") || set("buyer_reveal"); s.Known() != known {
			t.Fatalf("Parse(%q).Known() = %t, want %t", raw, s.Known(), known)
		}
		_, _ = s.ViewedTime()
	})
}

// Read classifies what it validates: the summary is the session's, and a
// field of the wrong type fails the read whatever else the body holds.
func TestReadSummary(t *testing.T) {
	t.Parallel()
	r := newReader(t)
	tests := []struct {
		raw  string
		want storylane.Summary
		ok   bool
	}{
		{`{"id":"s","viewed_at":"2024-05-17T10:58:05Z","lead":{"email":"a@example.com"}}`, storylane.Summary{ID: "s", Known: true, ViewedAt: "2024-05-17T10:58:05Z"}, true},
		{`{"id":"s","lead":null,"buyer_reveal":{}}`, storylane.Summary{ID: "s", Known: true}, true},
		{`{"id":"s","lead":null,"Lead":{}}`, storylane.Summary{ID: "s"}, true},
		{`{"id":"s","completion":"not a number"}`, storylane.Summary{}, false},
		{`{"id":"s","lead":"x"}`, storylane.Summary{}, false},
		{`{"id":5}`, storylane.Summary{}, false},
		{`{"lead":{}}`, storylane.Summary{}, false},
		{`[]`, storylane.Summary{}, false},
	}
	for _, tt := range tests {
		got, err := r.Read([]byte(tt.raw))
		if got != tt.want || (err == nil) != tt.ok || (err != nil && !errors.Is(err, storylane.ErrInvalid)) {
			t.Errorf("Read(%s) = %+v, %v, want %+v, ok %t", tt.raw, got, err, tt.want, tt.ok)
		}
	}
}

// A field of the wrong type is refused however deep another field nests:
// no path past the parser's own depth limit skips the type checks (an
// earlier fallback for deep payloads did).
func TestWrongTypeRefusedWhateverTheNesting(t *testing.T) {
	t.Parallel()
	r := newReader(t)
	for _, depth := range []int{0, 10, 63, 64, 65, 301, 1000, 12000} {
		raw := `{"id":"a","completion":"42"}`
		if depth > 0 {
			raw = `{"id":"a","completion":"42","x":` + nest(depth) + `}`
		}
		if s, err := storylane.Parse([]byte(raw)); !errors.Is(err, storylane.ErrNotSession) {
			t.Errorf("Parse(completion \"42\", %d deep) = %+v, %v, want %v", depth, s, err, storylane.ErrNotSession)
		}
		if s, err := r.Read([]byte(raw)); !errors.Is(err, storylane.ErrInvalid) {
			t.Errorf("Read(completion \"42\", %d deep) = %+v, %v, want %v", depth, s, err, storylane.ErrInvalid)
		}
	}
}
