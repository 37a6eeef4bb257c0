package merge

import "io"

// Source yields one ascending run, chunk by chunk.
//
// A [Merger] calls Next only when it has taken every value of the previous
// chunk, so at most one chunk per source is held at a time; a run never has
// to fit in memory as a whole.
type Source interface {
	// Next returns the next chunk of the run, or (nil, io.EOF) once the run is
	// exhausted. An empty chunk with a nil error is allowed and skipped. The
	// chunk is only read until the following call to Next (the source may
	// reuse its memory).
	//
	// Values inside a chunk must already be ascending (the merge does not
	// check them); each chunk must start at or above the last value of the
	// chunk before it (the merge checks that, see [ErrUnsorted]). A chunk
	// returned together with io.EOF is merged, and Next is not called again.
	Next() ([]int64, error)
}

// Slice is a [Source] over one in-memory run, yielded as a single chunk.
//
// The zero value is an empty run. Reset points a Slice at a new run without
// allocating, so a caller merging many batches can keep one []Slice and one
// []Source pointing into it, and re-aim both with Slice.Reset and
// [Merger.Reset] for each batch:
//
//	for i, run := range runs {
//		slices[i].Reset(run)
//		srcs[i] = &slices[i]
//	}
//	m.Reset(srcs[:len(runs)]...)
type Slice struct {
	run  []int64
	done bool
}

// SliceSource returns a Source whose run is s, as one chunk. The Source is a
// [*Slice], so it can be reused with [Slice.Reset]. s is not copied and must
// not change while the merge reads it.
func SliceSource(s []int64) *Slice { return &Slice{run: s} }

// Reset makes the Slice yield run from the start, as if newly made by
// [SliceSource]. It does not allocate.
func (s *Slice) Reset(run []int64) { *s = Slice{run: run} }

// Next returns the whole run the first time and (nil, io.EOF) after that.
func (s *Slice) Next() ([]int64, error) {
	if s.done {
		return nil, io.EOF
	}
	s.done = true
	return s.run, nil
}
