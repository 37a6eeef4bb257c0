package broker

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockFile is the file in a data dir whose flock(2) a running broker
// holds; it stays when the broker stops, as removing it would let two
// brokers lock two different files of the same name.
const lockFile = "segmerge-broker.lock"

// openDataDir creates dir 0700 if it is missing, makes it 0700 if it is
// open to other users, and locks it (lockDataDir), before anything reads
// it: a second broker on a data dir must not even take the first one's
// running mark for a crash and recover the live data.
//
// Only the dir's own mode is changed, never what is in it: with the dir
// 0700, nothing in it is reachable by other users whatever its mode, and
// a data dir given by mistake (a home directory) keeps its files' modes.
func openDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data dir %s is open to other users (%v) and cannot be made 0700: %w", dir, fi.Mode().Perm(), err)
		}
	}
	return lockDataDir(dir)
}

// writeFile writes data to path, 0600, whole or not at all: a new file
// renamed over the old one, so a crash never leaves half a file, and an
// older file's mode never carries over.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails once renamed
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	return err
}
