package archive_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/archive"
)

// withUmask runs f under umask mask. The umask is the process's: this must
// only run in a test that is not parallel, which Go runs before any
// parallel one starts and while no other test runs.
func withUmask(t *testing.T, mask int, f func()) {
	t.Helper()
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	f()
}

// TestModesWhateverTheUmask: everything the archive creates, and the
// partitions it finds, get the archive's modes, under a permissive umask
// and under one that would take the group's bits away. Not parallel: it
// changes the umask (withUmask).
func TestModesWhateverTheUmask(t *testing.T) {
	cases := []struct {
		name            string
		umask           int
		opts            []archive.Option
		wantFile, wantD fs.FileMode
	}{
		{"private, umask 0000", 0o000, nil, 0o600, 0o700},
		{"private, umask 0022", 0o022, nil, 0o600, 0o700},
		{"group, umask 0000", 0o000, []archive.Option{archive.GroupReadable()}, 0o640, 0o750},
		{"group, umask 0077", 0o077, []archive.Option{archive.GroupReadable()}, 0o640, 0o750},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "archive")
			// A partition written before files were private.
			old := filepath.Join(dir, "dt=2024-05-16")
			if err := os.MkdirAll(old, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(old, archive.FileName), append(line("old"), '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(old, 0o755)
			os.Chmod(filepath.Join(old, archive.FileName), 0o644) // whatever the test's own umask
			// setgid: what is created inside gets the directory's group.
			if err := os.Chmod(dir, 0o755|os.ModeSetgid); err != nil {
				t.Fatal(err)
			}
			fresh := filepath.Join(root, "new", "archive") // created by Open
			withUmask(t, c.umask, func() {
				for _, d := range []string{dir, fresh} {
					a, err := archive.Open(d, c.opts...)
					if err != nil {
						t.Fatal(err)
					}
					for _, day := range []string{"2024-05-16", "2024-05-17"} {
						if err := a.Append(context.Background(), day, "id-"+day, line("id-"+day)); err != nil {
							t.Error(err)
						}
					}
					if err := a.Close(); err != nil {
						t.Error(err)
					}
				}
			})
			want := map[string]fs.FileMode{
				fresh:                         c.wantD,
				filepath.Join(fresh, ".lock"): c.wantFile,
				filepath.Join(dir, ".lock"):   c.wantFile,
			}
			for _, d := range []string{dir, fresh} {
				for _, day := range []string{"2024-05-16", "2024-05-17"} {
					want[filepath.Join(d, "dt="+day)] = c.wantD
					want[filepath.Join(d, "dt="+day, archive.FileName)] = c.wantFile
				}
			}
			for path, mode := range want {
				checkMode(t, path, mode)
			}
			// An existing directory keeps its mode: a mount point, a parent
			// others share.
			checkMode(t, dir, 0o755)
			// A partition made in it keeps the setgid bit it inherits, so
			// its file belongs to the group --group-readable lets read it.
			if info, err := os.Stat(filepath.Join(dir, "dt=2024-05-17")); err != nil {
				t.Error(err)
			} else if info.Mode()&os.ModeSetgid == 0 {
				t.Errorf("mode of dt=2024-05-17 in a setgid directory = %v, want it setgid too", info.Mode())
			}
		})
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %#o, want %#o", path, got, want)
	}
}
