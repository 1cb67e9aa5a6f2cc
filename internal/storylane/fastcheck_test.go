package storylane

import (
	"bytes"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"

	"github.com/storylane-bridge/storylane-bridge/schemas"
)

func sessionSchema(t testing.TB) *schema {
	t.Helper()
	s, err := compileSchema(schemas.SessionSchemaID, schemas.SessionSchema())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The session schema must stay inside the compiled subset, or every
// webhook silently takes the slow path.
func TestSessionSchemaCompiles(t *testing.T) {
	t.Parallel()
	if s := sessionSchema(t); s.fast == nil {
		t.Fatal("compile(session schema) = false, want the compiled check")
	}
}

// libSchema compiles a schema document for a test, as the library does.
func libSchema(t *testing.T, doc string) *jsonschema.Schema {
	t.Helper()
	d, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem://s.json", d); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("mem://s.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompileRefusesOtherKeywords(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`{"enum":[1]}`, `{"type":"integer"}`, `{"properties":{"a":{"pattern":"x"}}}`, `{"additionalProperties":false}`,
		`{"items":{}}`, `{"minimum":1}`, `{"anyOf":[{}]}`, `{"$defs":{"a":{}},"$ref":"#/$defs/a"}`,
		`{"properties":{"a":{"const":1}}}`, `{"additionalProperties":{"minProperties":1}}`,
	} {
		if _, ok := compile(libSchema(t, doc)); ok {
			t.Errorf("compile(%s) = true, want false", doc)
		}
	}
	if _, ok := compile(libSchema(t, `{"title":"t","description":"d","type":["object","null"],"required":["a"],"properties":{"a":{"type":"string","minLength":1,"maxLength":3}},"additionalProperties":{"type":"string"}}`)); !ok {
		t.Error("compile(subset schema) = false, want true")
	}
}

// agree checks the compiled check never passes what the library refuses,
// the library reading the text by itself.
func agree(t *testing.T, s *schema, raw []byte) {
	t.Helper()
	var p fastjson.Parser
	doc, err := decode(&p, raw)
	if err != nil || !s.fast.valid(doc) {
		return
	}
	lib, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("check.valid(%q) = true, the library cannot read it: %v", raw, err)
	}
	if err := s.library(lib); err != nil {
		t.Fatalf("check.valid(%q) = true, want false: the library says %v", raw, err)
	}
}

func TestFastCheckAgrees(t *testing.T) {
	t.Parallel()
	s := sessionSchema(t)
	long := []string{`{"id":"` + strings.Repeat("é", 1024) + `"}`, `{"id":"` + strings.Repeat("é", 1025) + `"}`, `{"id":"` + strings.Repeat("x", 1025) + `"}`}
	for _, raw := range append(checkCorpus(), long...) {
		agree(t, s, []byte(raw))
	}
	// And it decides the common case by itself.
	for _, name := range []string{"known", "unknown"} {
		b, _ := schemas.Example(name)
		var p fastjson.Parser
		doc, err := decode(&p, b)
		if err != nil || !s.fast.valid(doc) {
			t.Errorf("fast check(%s example) = false, %v, want true", name, err)
		}
	}
}

func checkCorpus() []string {
	return []string{
		`{"id":"s"}`, `{"id":""}`, `{"id":42}`, `{"id":"\ud800"}`, `{"id":"\u0000"}`, `{"id":"x","id":5}`, `{"id":5,"id":"x"}`,
		`{"lead":{}}`, `{"id":"s","lead":"x"}`, `{"id":"s","lead":{"email":5}}`, `{"id":"s","lead":{"email":"a","email":{}}}`,
		`{"id":"s","utm_params":{"a":{}}}`, `{"id":"s","utm_params":{"a":null,"b":"c"}}`, `{"id":"s","completion":"1"}`,
		`{"id":"s","completion":1e400}`, `{"id":"s","checklist_completed":0}`, `[]`, `"s"`, `null`, `{"i\u0064":"s"}`,
		`{"id":"s","lead":null,"buyer_reveal":{"company_name":null}}`, `{"id":"s","extra":[1,{"id":5}]}`,
		`{"id":"\ud800\u0041"}`, "{\"id\":\"\xff\"}", `{"id":"\ud83d\ude00","name":"\udc00"}`,
	}
}

// FuzzFastCheck looks for a payload the compiled check passes and the
// library refuses. Its seeds are short: minimizing a long one outlasts a
// short fuzzing run.
func FuzzFastCheck(f *testing.F) {
	for _, raw := range checkCorpus() {
		f.Add([]byte(raw))
	}
	s := sessionSchema(f)
	f.Fuzz(func(t *testing.T, raw []byte) { agree(t, s, raw) })
}
