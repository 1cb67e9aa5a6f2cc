package storylane_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Decode reads strings as encoding/json does, where fastjson alone would not.
func TestDecodeReadsAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`"plain"`, `"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"\ud800\ud800"`, `"\ud83d\ude00"`, `"\uD83D\uDE00"`,
		`"\\ud800"`, `"\\\ud800"`, "\"a\xffb\"", "\"\xed\xa0\x80\"", "\"\xf0\x9f\x98\"", `"é\u00e9"`, `"\ud800\"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			continue // not JSON: Decode must refuse it too
		}
		var p fastjson.Parser
		v, err := storylane.Decode(&p, []byte(in))
		if err != nil {
			t.Errorf("Decode(%q) = %v, want the string %q", in, err, want)
			continue
		}
		if got, _ := v.StringBytes(); string(got) != want {
			t.Errorf("Decode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeRefusesNonJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `{`, `{"id":"x"} {}`, `{'id':1}`, `[1,]`, `"\ud800\"`, "{\"id\":\"x\"}\x00"} {
		var p fastjson.Parser
		if v, err := storylane.Decode(&p, []byte(in)); err == nil {
			t.Errorf("Decode(%q) = %v, nil, want an error", in, v)
		}
	}
	deep := make([]byte, 0, 2000)
	for range 1000 {
		deep = append(deep, '[')
	}
	for range 1000 {
		deep = append(deep, ']')
	}
	var p fastjson.Parser
	if _, err := storylane.Decode(&p, deep); !errors.Is(err, storylane.ErrDeep) {
		t.Errorf("Decode(1000 nested arrays) = %v, want ErrDeep: fastjson stops at its depth limit", err)
	}
}

// Parse reads what fastjson cannot with encoding/json, the same way.
func TestParseDeep(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 400) + strings.Repeat("]", 400)
	for _, tt := range []struct {
		raw   string
		known bool
	}{
		{`{"id":"a","x":` + deep + `}`, false},
		{`{"id":"a","lead":{"email":"e@example.com","x":` + deep + `},"utm_params":{"utm_source":"s"}}`, true},
		{`{"Lead":{"x":` + deep + `},"id":"a"}`, false},
	} {
		s, err := storylane.Parse([]byte(tt.raw))
		if err != nil || s.ID != "a" || s.Known() != tt.known {
			t.Errorf("Parse(%.40s…) = %+v, %v; want id a, known %t", tt.raw, s, err, tt.known)
		}
	}
	if _, err := storylane.Parse([]byte(`{"id":5,"x":` + deep + `}`)); !errors.Is(err, storylane.ErrNotSession) {
		t.Errorf("Parse(deep, numeric id) = %v, want ErrNotSession", err)
	}
}

// FuzzDecode holds Decode to encoding/json on every string value.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`"\ud800\u0041"`))
	f.Add([]byte("\"a\xffb\""))
	f.Add([]byte(`{"k\ud800":["\udc00",{"x":"\\u"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, stdErr := readJSON(raw)
		var p fastjson.Parser
		v, err := storylane.Decode(&p, raw)
		if err != nil {
			// Only nesting deeper than fastjson goes may part them.
			if stdErr == nil && !errors.Is(err, storylane.ErrDeep) {
				t.Fatalf("Decode(%q) = %v, encoding/json reads it", raw, err)
			}
			return
		}
		if stdErr != nil {
			t.Fatalf("Decode(%q) = ok, encoding/json says %v", raw, stdErr)
		}
		// Read through fastjson's accessors, which unescape, not MarshalTo,
		// which writes strings back as they were.
		if got := fastValue(v); !equalJSON(got, want) {
			t.Fatalf("Decode(%q) = %v, encoding/json reads %v", raw, got, want)
		}
	})
}

// fastValue is v as encoding/json would hold it with UseNumber, read
// through fastjson's own accessors; of a key given twice the last counts.
func fastValue(v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeObject:
		m := map[string]any{}
		o, _ := v.Object()
		o.Visit(func(k []byte, f *fastjson.Value) { m[string(k)] = fastValue(f) })
		return m
	case fastjson.TypeArray:
		a := []any{}
		for _, e := range v.GetArray() {
			a = append(a, fastValue(e))
		}
		return a
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b)
	case fastjson.TypeNumber:
		return json.Number(v.MarshalTo(nil))
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	}
	return nil
}

// readJSON reads raw as the schema validator does: numbers as written.
func readJSON(raw []byte) (any, error) {
	if !json.Valid(raw) {
		return nil, errors.New("not JSON")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	return v, d.Decode(&v)
}

// equalJSON compares decoded values; NaN cannot occur in JSON.
func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
