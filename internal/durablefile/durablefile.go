// Package durablefile writes files so that a crash, at any moment, leaves
// each one whole: the fsyncs a rename or a new entry needs before it can be
// relied on after a power loss, written once.
package durablefile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SyncDir fsyncs dir: until then, an entry created or renamed in it may
// be lost in a crash even though its file's data was synced.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Replace writes file's new content through write into a temporary file
// beside it, fsyncs it, renames it over file and fsyncs the directory: a
// crash leaves the previous content or the new one, never part of either.
// When write fails, file is left as it was and the temporary file removed.
func Replace(file string, write func(io.Writer) error) error {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; cleans up a failure
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err == nil {
		err = SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("replace %s: %w", file, err)
	}
	return nil
}
