package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/nats-io/nkeys"
)

// ReaderKeyFile is the name, under the data directory, of the nkey seed
// that listener clients present when the listener requires credentials.
const ReaderKeyFile = "reader.nk"

// ReaderKey returns the public key of the nkey seed in file, first writing
// a new one there (mode 0600, its directory 0700 if it is made) when there
// is none. The seed outlives restarts so that consumers keep working; to
// rotate it, delete the file and restart. A file others may read or write is
// refused, as ssh refuses such a key: it may be known beyond its owner.
func ReaderKey(file string) (string, error) {
	seed, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		seed, err = newReaderKey(file)
	}
	if err != nil {
		return "", fmt.Errorf("reader nkey %s: %w", file, err)
	}
	st, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("reader nkey %s: %w", file, err)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return "", fmt.Errorf("reader nkey %s: mode %04o lets others read or change it: chmod 600 it, or delete it for a new one", file, mode)
	}
	kp, err := nkeys.ParseDecoratedNKey(seed)
	if err != nil {
		return "", fmt.Errorf("reader nkey %s: %w", file, err)
	}
	defer kp.Wipe()
	if _, err := kp.Seed(); err != nil {
		return "", fmt.Errorf("reader nkey %s: not a seed: %w", file, err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("reader nkey %s: %w", file, err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return "", fmt.Errorf("reader nkey %s: not a user key", file)
	}
	return pub, nil
}

func newReaderKey(file string) ([]byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	defer kp.Wipe()
	s, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	seed := slices.Clone(s) // Wipe clears the key pair's own copy
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, err
	}
	// O_EXCL: a file that appeared since the read is not overwritten.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	// The umask may have narrowed 0600, never widened it; Chmod makes it
	// exactly 0600 so that the owner can read it back.
	if err := errors.Join(f.Chmod(0o600), write(f, append(seed, '\n')), f.Sync(), f.Close()); err != nil {
		os.Remove(file)
		return nil, err
	}
	return seed, nil
}

func write(f *os.File, b []byte) error {
	_, err := f.Write(b)
	return err
}
