package jsontest_test

import (
	"strings"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/jsontest"
)

func TestStrict(t *testing.T) {
	t.Parallel()
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{`{"id":"a","lead":{"email":"x@example.org"}}`, true},
		{`{"a":{"b":1},"c":[{"b":2},{"b":3}],"d":"\ufffd\uFFFD` + "\uFFFD" + `\ud83d\ude00\\ud800"}`, true},
		{nest(64), true},
		{`{"a":` + nest(63) + `}`, true},
		{``, false},
		{`{"a":1,"a":2}`, false},
		{`{"a":1,"\u0061":2}`, false},
		{`{"x":{"a":[],"a":null}}`, false},
		{`[{"a":1},{"b":{"c":1,"c":1}}]`, false},
		{"\"a\xffb\"", false},
		{`"\ud800"`, false},
		{`{"\udc00x":1}`, false},
		{`"\ud800\u0041"`, false},
		{`"\ufdd0"`, false},
		{"\"\uFFFF\"", false},
		{`"\ud83f\udffe"`, false},
		{nest(65), false},
		{`{"a":` + nest(64) + `}`, false},
	} {
		if err := jsontest.Strict([]byte(tt.in)); (err == nil) != tt.ok {
			t.Errorf("Strict(%.80q) = %v, want ok %t", tt.in, err, tt.ok)
		}
	}
}
