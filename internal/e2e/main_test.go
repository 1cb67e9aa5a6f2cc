package e2e_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
)

// bin holds every binary of cmd/, built once.
var bin string

func TestMain(m *testing.M) {
	os.Exit(clitest.MainWithBinaries(m, &bin))
}

func binary(name string) string { return filepath.Join(bin, name) }
