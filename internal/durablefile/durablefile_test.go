package durablefile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "state")
	errWrite := errors.New("disk full")
	for _, tc := range []struct {
		name    string
		content string
		err     error
		want    string
	}{
		{"creates", "one", nil, "one"},
		{"replaces", "two", nil, "two"},
		{"a failed write leaves the old content", "thr", errWrite, "two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Replace(file, func(w io.Writer) error {
				if _, err := io.WriteString(w, tc.content); err != nil {
					return err
				}
				return tc.err
			})
			if !errors.Is(err, tc.err) {
				t.Errorf("Replace(%q) = %v, want %v", tc.content, err, tc.err)
			}
			if got, err := os.ReadFile(file); err != nil || string(got) != tc.want {
				t.Errorf("after Replace(%q) the file holds %q (%v), want %q", tc.content, got, err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("after Replace(%q) the directory holds %d entries, want the file alone", tc.content, len(entries))
			}
		})
	}
}

func TestReplaceInAMissingDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "missing", "state")
	if err := Replace(file, func(io.Writer) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Replace(%s) = %v, want an error wrapping os.ErrNotExist", file, err)
	}
	if err := SyncDir(filepath.Dir(file)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SyncDir(%s) = %v, want an error wrapping os.ErrNotExist", filepath.Dir(file), err)
	}
}
