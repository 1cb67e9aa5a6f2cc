package storylane_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// FuzzValidJSON holds ValidJSON to encoding/json's json.Valid.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,true,null,"\u00e9\n"]}`, "\t[ ]\r\n", `"\ud800"`, "\"\x01\"", `01`, `1.`, `-`, `[1,]`,
		`{"a" : 1 , }`, "\"\xff\"", `"\x"`, `1e+`, ` `, `[[[[]]]]`, `{"a":"b"}x`} {
		f.Add([]byte(s))
	}
	f.Add(example(f, "known.json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := storylane.ValidJSON(b), json.Valid(b); got != want {
			t.Fatalf("ValidJSON(%q) = %v, want %v", b, got, want)
		}
	})
}

func TestHasControl(t *testing.T) {
	t.Parallel()
	for _, c := range []byte{0x00, 0x09, 0x1f, 0x20, 0x7f, 0x80, 0x9f, 0xff} {
		for at := range 19 {
			b := bytes.Repeat([]byte{'a'}, 19)
			b[at] = c
			if got, want := storylane.HasControl(b), c < 0x20; got != want {
				t.Errorf("HasControl(%#x at %d) = %v, want %v", c, at, got, want)
			}
		}
	}
}
