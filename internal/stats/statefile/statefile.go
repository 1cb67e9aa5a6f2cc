// Package statefile keeps session-stats' snapshot in a file under its
// state directory, written atomically: a temporary file, fsynced, renamed
// over the last snapshot, then the directory fsynced. A crash at any
// moment leaves the previous snapshot or the new one, never half of one.
//
// A file, not a NATS KV bucket: on the embedded broker the listener's
// clients are a restricted reader (broker.ReaderPermissions) that may not
// create a stream, which a KV bucket is.
package statefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/storylane-bridge/storylane-bridge/internal/durablefile"
	"github.com/storylane-bridge/storylane-bridge/internal/stats"
)

// Name is the snapshot's file name in the state directory.
const Name = "session-stats.snapshot"

// Write stores a's snapshot in dir and returns the last stream sequence it
// holds.
func Write(dir string, a *stats.Aggregates) (seq uint64, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("state dir: %w", err)
	}
	err = durablefile.Replace(filepath.Join(dir, Name), func(w io.Writer) (err error) {
		seq, err = a.Encode(w)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	return seq, nil
}

// ErrNone says there is no snapshot yet.
var ErrNone = errors.New("no snapshot")

// Read loads the snapshot in dir. It returns an error wrapping ErrNone
// when there is none, and one wrapping stats.ErrCorrupt when it cannot be
// trusted: the caller rebuilds from the stream rather than count wrong.
func Read(dir string) (*stats.Aggregates, error) {
	f, err := os.Open(filepath.Join(dir, Name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNone, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	a, err := stats.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", f.Name(), err)
	}
	return a, nil
}
