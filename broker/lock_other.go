//go:build !unix

package broker

import "os"

// lockDataDir takes no lock where flock(2) does not exist: there, nothing
// stops a second broker on a data dir.
func lockDataDir(string) (*os.File, error) { return nil, nil }
