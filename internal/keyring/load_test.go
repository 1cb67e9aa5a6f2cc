package keyring_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/keyring"
)

func TestSigningSecret(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(file, []byte("\nfrom-file\nsecond\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bom := filepath.Join(t.TempDir(), "bom")
	if err := os.WriteFile(bom, []byte("\uFEFFsaved-by-notepad\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string { return func(string) string { return v } }
	tests := []struct {
		file, env, want string
		usage           bool
	}{
		{"", "first,second", "first", false},
		{file, "ignored", "from-file", false},
		{"", "", "", true},
		{filepath.Join(t.TempDir(), "missing"), "x", "", true},
		{bom, "", "", true},
		{"", "\u200bzero-width", "", true},
	}
	for _, tt := range tests {
		got, err := keyring.SigningSecret(tt.file, env(tt.env))
		if got != tt.want || errors.Is(err, cli.ErrUsage) != tt.usage {
			t.Errorf("SigningSecret(%q, %q) = %q, %v; want %q, usage error %t", tt.file, tt.env, got, err, tt.want, tt.usage)
		}
	}
}
