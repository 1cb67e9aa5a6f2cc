package storylane_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/storylane-bridge/storylane-bridge/internal/jsontest"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// Decode reads strings as encoding/json does, escaped surrogate pairs
// included.
func TestDecodeReadsAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`"plain"`, `"\ud83d\ude00"`, `"\uD83D\uDE00"`, `"\\ud800"`, `"é\u00e9"`, `"\ufffd\uFFFD"`, `"\"\\\/\b\f\n\r\t"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("json.Unmarshal(%q) = %v", in, err)
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
		if v, err := storylane.Decode(&p, []byte(in)); err == nil || errors.Is(err, storylane.ErrNotIJSON) {
			t.Errorf("Decode(%q) = %v, %v, want an error that is not ErrNotIJSON", in, v, err)
		}
	}
}

func nest(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// Decode takes only I-JSON (RFC 7493), where readers cannot disagree.
func TestDecodeIJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in     string
		reason string // "" when Decode takes it
	}{
		{nest(64), ""},
		{`{"id":"a","x":` + nest(63) + `}`, ""},
		{`{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`, ""},
		{`{"` + strings.Repeat("k", 100) + `":1}`, ""},
		{manyNames(40, false), ""},
		{"\"\uFFFD\uFFFC\U0010FFFD\"", ""},
		{nest(65), "nested deeper than 64 levels"},
		{`{"id":"a","completion":3E333}`, "number 3E333 out of the range of a double"},
		{`-1e400`, "number -1e400 out of the range of a double"},
		{`{"id":"a","completion":1.7976931348623157e308}`, ""},
		{`{"id":"a","x":` + nest(64) + `}`, "nested deeper than 64 levels"},
		{nest(1000), "nested deeper than 64 levels"},
		{nest(5000), "nested deeper than 64 levels"},
		{`{"id":"a","lead":{"email":"x@example.org"},"lead":null}`, `member name "lead" given twice`},
		{`{"id":"a","id":"b"}`, `member name "id" given twice`},
		{`{"id":"a","\u0069d":"b"}`, `member name "id" given twice`},
		{`{"id":"a","lead":{"email":"x","email":"y"}}`, `member name "email" given twice`},
		{`[{"a":1},{"a":1,"b":{"c":[{"d":1,"d":2}]}}]`, `member name "d" given twice`},
		{manyNames(40, true), `member name "k0" given twice`},
		{"{\"id\":\"a\xffb\"}", "invalid UTF-8 at byte 8"},
		{"\"\xed\xa0\x80\"", "invalid UTF-8 at byte 1"},
		{"\"\xf0\x9f\x98\"", "invalid UTF-8 at byte 1"},
		{`"\ud800"`, `lone surrogate \ud800 at byte 1`},
		{`"x\udc00x"`, `lone surrogate \udc00 at byte 2`},
		{`"\ud800\u0041"`, `lone surrogate \ud800 at byte 1`},
		{`"\ud800\ud800"`, `lone surrogate \ud800 at byte 1`},
		{`"\\\ud800"`, `lone surrogate \ud800 at byte 3`},
		{`{"\uDFFF":1}`, `lone surrogate \uDFFF at byte 2`},
		{`"\ufdd0"`, "noncharacter U+FDD0 at byte 1"},
		{"\"\uFFFE\"", "noncharacter U+FFFE at byte 1"},
		{`"\ud83f\udfff"`, "noncharacter U+1FFFF at byte 1"},
	} {
		var p fastjson.Parser
		_, err := storylane.Decode(&p, []byte(tt.in))
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("Decode(%.60q) = %v, want a value", tt.in, err)
		case tt.reason != "" && (!errors.Is(err, storylane.ErrNotIJSON) || !strings.Contains(err.Error(), tt.reason)):
			t.Errorf("Decode(%.60q) = %v, want ErrNotIJSON: %s", tt.in, err, tt.reason)
		}
		if _, perr := storylane.Parse([]byte(tt.in)); tt.reason != "" && !errors.Is(perr, storylane.ErrNotSession) {
			t.Errorf("Parse(%.60q) = %v, want ErrNotSession", tt.in, perr)
		}
	}
}

// manyNames is an object of n members, past the pairwise comparison; with
// dup, its last name repeats the first.
func manyNames(n int, dup bool) string {
	var b strings.Builder
	b.WriteString(`{"id":"a"`)
	for i := range n {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	if dup {
		b.WriteString(`,"k0":0`)
	}
	return b.String() + "}"
}

// FuzzIJSON holds every parsing path of the package to one rule, checked
// by jsontest.Strict apart from the code: Decode and Parse take a body
// only if it is I-JSON, and Decode takes every valid JSON text that is.
func FuzzIJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","lead":{"email":"x@example.org"},"lead":null}`, `{"id":"a","id":"b"}`, `{"id":"a","\u0069d":"b"}`,
		"{\"id\":\"a\xffb\"}", `{"id":"\ud800"}`, `{"id":"\ud83d\ude00\ufdd0"}`, `{"id":"a","x":` + nest(64) + `}`,
		`{"id":"a","x":` + nest(65) + `}`, `{"id":"a","x":{"y":1,"z":{"y":2,"y":3}}}`, manyNames(20, true),
	} {
		f.Add([]byte(s))
	}
	f.Add(example(f, "known.json"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		strict := jsontest.Strict(raw)
		var p fastjson.Parser
		_, err := storylane.Decode(&p, raw)
		if (err == nil) != (strict == nil) {
			t.Fatalf("Decode(%q) = %v, a strict reader says %v", raw, err, strict)
		}
		if err != nil && json.Valid(raw) && !errors.Is(err, storylane.ErrNotIJSON) {
			t.Fatalf("Decode(%q) = %v, want ErrNotIJSON for valid JSON", raw, err)
		}
		if _, err := storylane.Parse(raw); err == nil && strict != nil {
			t.Fatalf("Parse(%q) = a session, a strict reader says %v", raw, strict)
		}
	})
}

// FuzzDecode holds Decode, and the tree the schema library checks, to
// encoding/json on every value.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`"\ud800\u0041"`))
	f.Add([]byte("\"a\xffb\""))
	f.Add([]byte(`{"k\ud800":["\udc00",{"x":"\\u"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, stdErr := readJSON(raw)
		var p fastjson.Parser
		v, err := storylane.Decode(&p, raw)
		if err != nil {
			// Only a text that is not I-JSON may part them.
			if stdErr == nil && !errors.Is(err, storylane.ErrNotIJSON) {
				t.Fatalf("Decode(%q) = %v, encoding/json reads it", raw, err)
			}
			return
		}
		if stdErr != nil {
			t.Fatalf("Decode(%q) = ok, encoding/json says %v", raw, stdErr)
		}
		// The tree the schema library checks instead of parsing again.
		if got := storylane.Generic(v); !equalJSON(got, want) {
			t.Fatalf("Decode(%q) = %v, encoding/json reads %v", raw, got, want)
		}
	})
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
