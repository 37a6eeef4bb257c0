package broker

import (
	"fmt"
	"os"
)

// lockFile is the file in a data dir whose flock(2) a running broker
// holds; it stays when the broker stops, as removing it would let two
// brokers lock two different files of the same name.
const lockFile = "segmerge-broker.lock"

// openDataDir creates dir if it is missing and locks it (lockDataDir),
// before anything reads it: a second broker on a data dir must not even
// take the first one's running mark for a crash and recover the live data.
func openDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return lockDataDir(dir)
}
