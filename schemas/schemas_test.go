package schemas_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/jsontest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

func newValidator(t testing.TB) *schemas.Validator {
	t.Helper()
	v, err := schemas.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSchemaIDMatchesConstant(t *testing.T) {
	t.Parallel()
	var doc struct {
		ID     string `json:"$id"`
		Schema string `json:"$schema"`
	}
	if err := json.Unmarshal(schemas.SessionSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != schemas.SessionSchemaID {
		t.Errorf("schema $id = %q, want %q", doc.ID, schemas.SessionSchemaID)
	}
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("schema $schema = %q, want draft 2020-12", doc.Schema)
	}
}

func TestExamplesAreStorylanesBytes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"known", "unknown"} {
		got, err := schemas.Example(name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile("examples/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("Example(%q) differs from examples/%s.json", name, name)
		}
	}
	if _, err := schemas.Example("nope"); err == nil {
		t.Error(`Example("nope") = nil error, want an error`)
	}
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
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
		if err := v.Validate([]byte(payload)); err != nil {
			t.Errorf("Validate(%s) = %v, want nil", name, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
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
		err := v.Validate([]byte(tt.payload))
		if !errors.Is(err, schemas.ErrInvalid) {
			t.Errorf("Validate(%s) = %v, want %v", tt.name, err, schemas.ErrInvalid)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tt.reason) || strings.Contains(msg, "\n") {
			t.Errorf("Validate(%s) = %q, want one line containing %q", tt.name, msg, tt.reason)
		}
	}
}

// FuzzValidate checks that validation never panics, that its reason fits on
// one line, and that whatever it accepts the domain parser can read.
func FuzzValidate(f *testing.F) {
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
	v := newValidator(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		err := v.Validate(raw)
		if err != nil {
			if !errors.Is(err, schemas.ErrInvalid) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("Validate(%q) = %q, want one line wrapping ErrInvalid", raw, err)
			}
			return
		}
		if _, err := storylane.Parse(raw); err != nil {
			t.Fatalf("Validate(%q) = nil but Parse = %v", raw, err)
		}
		if err := jsontest.Strict(raw); err != nil {
			t.Fatalf("Validate(%q) = nil, a strict reader says %v", raw, err)
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	v := newValidator(b)
	body, _ := schemas.Example("known")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(body); err != nil {
			b.Fatal(err)
		}
	}
}
