package emit

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/merge"
	"github.com/segmerge/segmerge/sink"
)

// Taker hands over a streaming batch's chunks: *assemble.Assembler and
// *assemble.Lanes are Takers.
type Taker interface {
	Take(b *assemble.Batch, s int64) ([]int64, assemble.TakeState)
}

// Stream merges one streaming batch into a sink as its chunks arrive (see
// the package doc). The zero value is ready; a Stream is reused batch after
// batch.
type Stream struct {
	b    *assemble.Batch
	s    sink.Sink
	t    Taker
	m    merge.Merger
	srcs []merge.Source
	refs []takeSource
	vals []int64
	ints int64
}

// Begin starts merging b into s, taking its chunks from t.
func (st *Stream) Begin(s sink.Sink, b *assemble.Batch, t Taker) error {
	st.b, st.s, st.t, st.ints = b, s, t, 0
	st.srcs = st.srcs[:0]
	st.refs = slices.Grow(st.refs[:0], int(b.Segments))[:b.Segments]
	for seg := range b.Segments {
		st.refs[seg] = takeSource{st: st, seg: seg}
		st.srcs = append(st.srcs, &st.refs[seg])
	}
	st.m.Reset(st.srcs...)
	if st.vals == nil {
		st.vals = make([]int64, 4096)
	}
	if err := s.Begin(b.ID); err != nil {
		return fmt.Errorf("write batch %d: %w", b.ID, err)
	}
	return nil
}

// Batch is the batch being merged, nil once it ended or was aborted.
func (st *Stream) Batch() *assemble.Batch { return st.b }

// Ints is how many integers the batch has written so far.
func (st *Stream) Ints() int64 { return st.ints }

// Pump merges as far as the chunks taken so far allow and writes what it
// merged. It returns done once the batch is written whole (the sink's End
// included); false with no error when it waits for a chunk, which is when
// its owner asks the assembler whether the batch is Broken.
func (st *Stream) Pump() (done bool, err error) {
	b := st.b
	for {
		k, err := st.m.Read(st.vals)
		if k > 0 {
			st.ints += int64(k)
			if err := st.s.Write(st.vals[:k]); err != nil {
				return false, fmt.Errorf("write batch %d: %w", b.ID, err)
			}
			continue
		}
		switch {
		case err == io.EOF:
			if err := st.s.End(); err != nil {
				return false, fmt.Errorf("write batch %d: %w", b.ID, err)
			}
			st.b = nil
			return true, nil
		case errors.Is(err, merge.ErrWait):
			return false, nil
		default:
			return false, fmt.Errorf("merge batch %d: %w", b.ID, err)
		}
	}
}

// Abort cuts the batch begun from every sink that can (sink.Aborter) and
// ends the Stream.
func (st *Stream) Abort() error {
	st.b = nil
	if a, ok := st.s.(sink.Aborter); ok {
		if err := a.Abort(); err != nil {
			return fmt.Errorf("undo a partly written batch: %w", err)
		}
	}
	return nil
}

// takeSource is a merge.Source over one segment of the streaming batch.
type takeSource struct {
	st  *Stream
	seg int64
}

func (s *takeSource) Next() ([]int64, error) {
	d, state := s.st.t.Take(s.st.b, s.seg)
	switch state {
	case assemble.Taken:
		return d, nil
	case assemble.NotYet:
		return nil, merge.ErrWait
	}
	return nil, io.EOF
}
