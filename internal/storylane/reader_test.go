package storylane_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/jsontest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

func newReader(t testing.TB) *storylane.Reader {
	t.Helper()
	r, err := storylane.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReadAccepts(t *testing.T) {
	t.Parallel()
	r := newReader(t)
	known, _ := schemas.Example("known")
	unknown, _ := schemas.Example("unknown")
	tests := map[string]string{
		"known example":    string(known),
		"unknown example":  string(unknown),
		"id only":          `{"id":"s"}`,
		"all nulls":        `{"id":"s","buyer_reveal":null,"lead":null,"name":null,"link":null,"viewed_at":null,"completion":null,"time_spent":null,"checklist_completed":null,"cta_opened":null,"analytics_url":null,"utm_params":null}`,
		"unknown fields":   `{"id":"s","brand_new":{"nested":[1,2,3]},"lead":{"email":"a@example.com","phone":"+1"}}`,
		"fractional":       `{"id":"s","completion":33.3,"time_spent":1.5}`,
		"odd viewed_at":    `{"id":"s","viewed_at":"last tuesday"}`,
		"whitespace":       " \n{\"id\":\"s\"}\n ",
		"unicode id":       `{"id":"séance 😀"}`,
		"utm extra params": `{"id":"s","utm_params":{"utm_source":"x","fbclid":null}}`,
	}
	for name, payload := range tests {
		if _, err := r.Read([]byte(payload)); err != nil {
			t.Errorf("Read(%s) = %v, want nil", name, err)
		}
	}
}

func TestReadRejects(t *testing.T) {
	t.Parallel()
	r := newReader(t)
	tests := []struct {
		name, payload, reason string
	}{
		{"empty body", ``, "not JSON"},
		{"not json", `hello`, "not JSON"},
		{"trailing garbage", `{"id":"s"} {}`, "not JSON"},
		{"array", `[{"id":"s"}]`, `at "/"`},
		{"no id", `{"name":"Product Demo"}`, `at "/"`},
		{"empty id", `{"id":""}`, `at "/id"`},
		{"numeric id", `{"id":42}`, `at "/id"`},
		{"huge id", `{"id":"` + strings.Repeat("x", 1025) + `"}`, `at "/id"`},
		{"lead is a string", `{"id":"s","lead":"john"}`, `at "/lead"`},
		{"completion is a string", `{"id":"s","completion":"30%"}`, `at "/completion"`},
		{"email is a number", `{"id":"s","lead":{"email":5}}`, `at "/lead/email"`},
		{"utm value is an object", `{"id":"s","utm_params":{"utm_source":{}}}`, `at "/utm_params/utm_source"`},
		{"lead given twice", `{"id":"a","lead":{"email":"x@example.org"},"lead":null}`, `not I-JSON (RFC 7493): member name "lead" given twice`},
		{"invalid UTF-8", "{\"id\":\"a\xffb\"}", "not I-JSON (RFC 7493): invalid UTF-8 at byte 8"},
		{"lone surrogate", `{"id":"\udc00"}`, `not I-JSON (RFC 7493): lone surrogate \udc00`},
		{"65 deep", `{"id":"a","x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, "not I-JSON (RFC 7493): nested deeper than 64 levels"},
	}
	for _, tt := range tests {
		_, err := r.Read([]byte(tt.payload))
		if !errors.Is(err, storylane.ErrInvalid) {
			t.Errorf("Read(%s) = %v, want %v", tt.name, err, storylane.ErrInvalid)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tt.reason) || strings.Contains(msg, "\n") {
			t.Errorf("Read(%s) = %q, want one line containing %q", tt.name, msg, tt.reason)
		}
	}
}

// FuzzRead checks that reading never panics, that its reason fits on one
// line, and that whatever it accepts Parse reads alike and a strict reader
// takes.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"known", "unknown"} {
		b, _ := schemas.Example(name)
		f.Add(b)
	}
	f.Add([]byte(`{"id":"s","lead":{}}`))
	f.Add([]byte(`{"id":""}`))
	f.Add([]byte(`[`))
	f.Add([]byte(`{"id":"a","lead":{"email":"x@example.org"},"lead":null}`))
	f.Add([]byte("{\"id\":\"a\xffb\"}"))
	f.Add([]byte(`{"id":"a","x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`))
	r := newReader(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		sum, err := r.Read(raw)
		if err != nil {
			if !errors.Is(err, storylane.ErrInvalid) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("Read(%q) = %q, want one line wrapping ErrInvalid", raw, err)
			}
			return
		}
		s, err := storylane.Parse(raw)
		if err != nil || s.Summary() != sum {
			t.Fatalf("Read(%q) = %+v but Parse = %+v, %v", raw, sum, s.Summary(), err)
		}
		if err := jsontest.Strict(raw); err != nil {
			t.Fatalf("Read(%q) = %+v, a strict reader says %v", raw, sum, err)
		}
	})
}

// BenchmarkRead is what the bridge reads of a webhook: checked, validated
// and summarized, parsed once.
func BenchmarkRead(b *testing.B) {
	r := newReader(b)
	body, _ := schemas.Example("known")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if s, err := r.Read(body); err != nil || !s.Known {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadInvalid is a body the compiled check cannot pass, which
// the library checks, with its reasons, on the tree already parsed.
func BenchmarkReadInvalid(b *testing.B) {
	r := newReader(b)
	body := []byte(`{"id":"s","completion":"thirty","lead":{"email":"a@example.com"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Read(body); err == nil {
			b.Fatal("read an invalid body")
		}
	}
}
