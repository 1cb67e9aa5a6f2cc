package keyring_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/keyring"
)

func TestSecretsFromList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"one", []string{"one"}},
		{"one,two", []string{"one", "two"}},
		{" one , two ,, ", []string{"one", "two"}},
		{"\tpass word\t", []string{"pass word"}},
	}
	for _, tt := range tests {
		if got, err := keyring.SecretsFromList(tt.in); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("SecretsFromList(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSecretsFromLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"one\n", []string{"one"}},
		{"one\r\ntwo\r\n\r\n", []string{"one", "two"}},
		{"\n  one,with,commas  \n", []string{"one,with,commas"}},
		{"ünïcode-€\n", []string{"ünïcode-€"}},
	}
	for _, tt := range tests {
		if got, err := keyring.SecretsFromLines([]byte(tt.in)); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("SecretsFromLines(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestSecretsRefuseInvisibleCharacters: anything invisible but the blanks
// and line endings always trimmed is refused, naming the line and the
// character, never the secret.
func TestSecretsRefuseInvisibleCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
	}{
		{"\uFEFFs3cret\n", "line 1: invisible character in a webhook secret: U+FEFF (a byte-order mark: save the file as UTF-8 without BOM) at its start"},
		{"good\ns3cret\u200b\n", "line 2: invisible character in a webhook secret: U+200B at its end"},
		{"good\n\ns3\u00a0cret\n", "line 3: invisible character in a webhook secret: U+00A0 inside it"},
		{"s3cret\u00a0\n", "line 1: invisible character in a webhook secret: U+00A0 at its end"},
		{"\u202es3cret\n", "line 1: invisible character in a webhook secret: U+202E at its start"},
		{"s3c\x00ret", "line 1: invisible character in a webhook secret: U+0000 inside it"},
		{"s3\vcret", "line 1: invisible character in a webhook secret: U+000B inside it"},
		{"s3cret\xff", "line 1: invisible character in a webhook secret: a byte that is not UTF-8 at its end"},
	}
	for _, tt := range tests {
		got, err := keyring.SecretsFromLines([]byte(tt.in))
		if !errors.Is(err, keyring.ErrInvisibleInSecret) || err.Error() != tt.want {
			t.Errorf("SecretsFromLines(%q) = %q, %v; want error %q", tt.in, got, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3") {
			t.Errorf("SecretsFromLines(%q) error %q shows the secret", tt.in, err)
		}
	}
	if _, err := keyring.SecretsFromList("one,\uFEFFtwo"); err == nil || !strings.HasPrefix(err.Error(), "item 2: ") {
		t.Errorf("SecretsFromList(BOM in the second item) = %v, want an error naming item 2", err)
	}
}
