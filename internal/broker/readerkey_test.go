package broker_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
)

// TestReaderKeyCreatesPrivateFile runs under umask 0, so not in parallel:
// the seed is written 0600 in a new 0700 directory, and read back as the
// same key on the next start.
func TestReaderKeyCreatesPrivateFile(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	file := filepath.Join(t.TempDir(), "data", broker.ReaderKeyFile)
	pub, err := broker.ReaderKey(file)
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		t.Fatalf("ReaderKey(new) = %q, %v; want a user public key", pub, err)
	}
	for path, want := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("mode of %s = %v, %v; want %04o", path, st.Mode().Perm(), err, want)
		}
	}
	again, err := broker.ReaderKey(file)
	if err != nil || again != pub {
		t.Errorf("ReaderKey(existing) = %q, %v; want the same key %q", again, err, pub)
	}
}

func TestReaderKeyRefuses(t *testing.T) {
	t.Parallel()
	account, _ := nkeys.CreateAccount()
	accountSeed, _ := account.Seed()
	user, _ := nkeys.CreateUser()
	userSeed, _ := user.Seed()
	userPub, _ := user.PublicKey()
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string
	}{
		{"readable by others", userSeed, 0o644, "chmod 600"},
		{"writable by the group", userSeed, 0o620, "chmod 600"},
		{"not a seed", []byte("hello\n"), 0o600, "no nkey seed"},
		{"a public key", []byte(userPub), 0o600, "no nkey seed"},
		{"an account seed", accountSeed, 0o600, "not a user key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), broker.ReaderKeyFile)
			if err := os.WriteFile(file, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, tt.mode); err != nil {
				t.Fatal(err)
			}
			if pub, err := broker.ReaderKey(file); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReaderKey(%s) = %q, %v; want an error saying %q", tt.name, pub, err, tt.want)
			}
		})
	}
}
