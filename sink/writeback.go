package sink

import "os"

// writebackBytes is how much is written to a file between two requests to
// start writing it back (see writeback).
const writebackBytes = 1 << 20

// writeback passes writes to a file and, every writebackBytes, has the
// kernel start writing them to disk in the background, so that the fsync
// at the next commit waits on little more than the last megabyte, not on
// everything written since the commit before.
type writeback struct {
	f       *os.File
	pending int            // bytes written since the last request
	start   func(*os.File) // startWriteback; a test counts the requests
}

func newWriteback(f *os.File) *writeback { return &writeback{f: f, start: startWriteback} }

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if w.pending += n; w.pending >= writebackBytes {
		w.start(w.f)
		w.pending = 0
	}
	return n, err
}
