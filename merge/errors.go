package merge

import (
	"errors"
	"strconv"
)

// ErrUnsorted reports that a source broke the chunk contract: a chunk
// started below the last value already taken from the same source. It never
// appears on its own; it is always found inside a [*SourceError], whose text
// names the source and both values:
//
//	merge: source 3: chunk starts at 5 after 9: run not ascending
//
// Test for it with errors.Is.
var ErrUnsorted = errors.New("run not ascending")

// ErrWait is what a [Source] returns from Next when its next chunk has not
// arrived yet, and what [Merger.Read] returns when it can merge nothing until
// that source is ready. It is not sticky: Read again once the data is there.
var ErrWait = errors.New("merge: source not ready")

// ErrClosed is returned by [Merger.Read] after [Merger.Close] when the merge
// had not already failed with an error of its own.
var ErrClosed = errors.New("merge: read after close")

// SourceError is the error a [Merger] reports when one of its sources fails:
// either the source's Next returned an error other than io.EOF, or its next
// chunk went backwards ([ErrUnsorted]). Source is the source's index in the
// list given to [New] or [Merger.Reset], so a caller can map it back to the
// segment or partition it came from. Unwrap returns Err, so errors.Is and
// errors.As see through it.
type SourceError struct {
	Source int   // index of the failing source
	Err    error // what went wrong; never io.EOF
}

// Error returns "merge: source <index>: <err>".
func (e *SourceError) Error() string {
	return "merge: source " + strconv.Itoa(e.Source) + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *SourceError) Unwrap() error { return e.Err }

// unsortedError is the Err of a SourceError for a chunk that went backwards.
// It keeps both values so the message can show them, and matches ErrUnsorted.
type unsortedError struct {
	first, last int64
}

func (e *unsortedError) Error() string {
	return "chunk starts at " + strconv.FormatInt(e.first, 10) +
		" after " + strconv.FormatInt(e.last, 10) + ": " + ErrUnsorted.Error()
}

func (e *unsortedError) Is(target error) bool { return target == ErrUnsorted }
