package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// mkdir creates dir, and any parent missing, with a.dirMode, and says
// whether dir is new. The mode is set after creating, as the umask may have
// cut bits GroupDir asks for.
func (a *Archive) mkdir(dir string) (bool, error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, a.dirMode); err != nil {
		return false, err
	}
	return true, a.chmodDir(dir)
}

// chmodDir gives dir a.dirMode, keeping its setgid bit: with it, what is
// created inside belongs to the directory's group, which --group-readable
// lets read it.
func (a *Archive) chmodDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return os.Chmod(dir, a.dirMode|info.Mode()&os.ModeSetgid)
}

// openFile opens or creates name for reading and appending, with
// a.fileMode whatever the umask and whatever mode it had.
func (a *Archive) openFile(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, a.fileMode)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(a.fileMode); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// protect gives the partitions already in the archive its modes: an
// archive written before files were private, or with another
// --group-readable, has every day's leads at the mode it then had. Only
// the archive's own entries are changed; a symbolic link is left alone.
func (a *Archive) protect() error {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "dt=") {
			continue
		}
		dir := filepath.Join(a.dir, e.Name())
		if err := a.chmodDir(dir); err != nil {
			return fmt.Errorf("partition %s: %w", e.Name(), err)
		}
		file := filepath.Join(dir, FileName)
		if info, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) || err == nil && !info.Mode().IsRegular() {
			continue
		} else if err != nil {
			return fmt.Errorf("partition %s: %w", e.Name(), err)
		}
		if err := os.Chmod(file, a.fileMode); err != nil {
			return fmt.Errorf("partition %s: %w", e.Name(), err)
		}
	}
	return nil
}
