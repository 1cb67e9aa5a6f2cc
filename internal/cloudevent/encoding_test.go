package cloudevent_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
)

func TestEncodeValue(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"storylane.session.known", "storylane.session.known"},
		{"https://app.storylane.io/share/x?a=1&b=2", "https://app.storylane.io/share/x?a=1&b=2"},
		// The binding's own example.
		{"Euro € 😀", "Euro%20%E2%82%AC%20%F0%9F%98%80"},
		{`say "hi"`, "say%20%22hi%22"},
		{"100%", "100%25"},
		{"tab\tnew\nline\x7f", "tab%09new%0Aline%7F"},
	}
	for _, tt := range tests {
		if got := cloudevent.EncodeValue(tt.in); got != tt.want {
			t.Errorf("EncodeValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"plain", "plain", true},
		{"Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀", true},
		{"euro%e2%82%ac", "euro€", true},
		{"%41%42", "AB", true},
		{`"a b"`, "a b", true},
		{`"a \"quoted\" \\ b"`, `a "quoted" \ b`, true},
		{`"100%25"`, "100%", true},
		{"%C0%A0", "", false},
		{"%FF", "", false},
		{"%4", "", false},
		{"%", "", false},
		{"%zz", "", false},
		{`"open`, "", false},
		{`"a"b"`, "", false},
		{`"dangling\"`, "", false},
		{"\xff", "", false},
	}
	for _, tt := range tests {
		got, err := cloudevent.DecodeValue(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("DecodeValue(%q) = %q, %v, want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzEncodeDecodeValue(f *testing.F) {
	for _, s := range []string{"", "a b", "100%", "Euro € 😀", `"quoted"`, "\x00\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := cloudevent.EncodeValue(s)
		if strings.ContainsFunc(enc, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' }) {
			t.Fatalf("EncodeValue(%q) = %q, want printable ASCII without space or quote", s, enc)
		}
		dec, err := cloudevent.DecodeValue(enc)
		if !utf8.ValidString(s) {
			if err == nil {
				t.Fatalf("DecodeValue(EncodeValue(%q)) = %q, nil, want an error for invalid UTF-8", s, dec)
			}
			return
		}
		if err != nil || dec != s {
			t.Fatalf("DecodeValue(EncodeValue(%q)) = %q, %v, want %q, nil", s, dec, err, s)
		}
	})
}

func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{"%41", `"a\"b"`, "%C0%A0", "%", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := cloudevent.DecodeValue(s)
		if err == nil && !utf8.ValidString(got) {
			t.Fatalf("DecodeValue(%q) = %q, invalid UTF-8 without an error", s, got)
		}
	})
}
