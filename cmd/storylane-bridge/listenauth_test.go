package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/storylane-bridge/storylane-bridge/internal/broker"
	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
)

// TestListenAuthRefusals: an unknown --nats-listen-auth, and a reader seed
// others may read, stop the start with a usage error (exit 2) saying why.
func TestListenAuthRefusals(t *testing.T) {
	t.Parallel()
	openSeed := t.TempDir()
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	file := filepath.Join(openSeed, broker.ReaderKeyFile)
	if err := os.WriteFile(file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", []string{"--nats-listen-auth", "password", "--data-dir", t.TempDir()}, "--nats-listen-auth"},
		{"seed readable by others", []string{"--nats-listen-auth", "nkey", "--data-dir", openSeed}, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := clitest.Start(t, run, append([]string{"--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}, tt.args...),
				map[string]string{"STORYLANE_WEBHOOK_SECRET": testSecret})
			if err := r.Wait(t); !errors.Is(err, cli.ErrUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("bridge with %v = %v, want a usage error saying %q", tt.args, err, tt.want)
			}
		})
	}
}
