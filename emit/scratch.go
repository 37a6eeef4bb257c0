package emit

import (
	"fmt"
	"io"
	"slices"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/merge"
	"github.com/segmerge/segmerge/sink"
)

// Scratch is the merge state one goroutine reuses batch after batch; the
// zero value is ready. It allocates only while it grows to the largest
// batch merged.
type Scratch struct {
	merger merge.Merger
	chunks []chunkSource
	srcs   []merge.Source
	vals   []int64
	packed merge.Packed
	runs   [][][]int64
	pack   bool    // this batch merges with packed, not merger
	all    []int64 // a whole batch merged at once (fill), up to fillMax values
}

// fillMax is the most values a batch may have to be merged whole into
// Scratch.all (1 MiB a goroutine) rather than piece by piece; fillRuns the
// most segments: past 16, Packed.Fill is slower than Read
// (BenchmarkPackedFill in package merge).
const fillMax, fillRuns = 1 << 17, 16

// Write merges held batch b into s, piece by piece, and returns the
// integers written. b must be complete (every chunk held).
func (d *Scratch) Write(s sink.Sink, b *assemble.Batch) (int64, error) {
	d.start(b)
	if d.vals == nil {
		d.vals = make([]int64, 4096)
	}
	if err := s.Begin(b.ID); err != nil {
		return 0, fmt.Errorf("write batch %d: %w", b.ID, err)
	}
	n := int64(0)
	for {
		k, err := d.read(d.vals)
		if k > 0 {
			n += int64(k)
			if err := s.Write(d.vals[:k]); err != nil {
				return n, fmt.Errorf("write batch %d: %w", b.ID, err)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("merge batch %d: %w", b.ID, err)
		}
	}
	if err := s.End(); err != nil {
		return n, fmt.Errorf("write batch %d: %w", b.ID, err)
	}
	return n, nil
}

// start prepares d to merge b: with merge.Packed when b's values allow,
// else with the Merger.
func (d *Scratch) start(b *assemble.Batch) {
	d.runs = slices.Grow(d.runs[:0], int(b.Segments))[:b.Segments]
	for s := range b.Segments {
		d.runs[s] = b.Chunks(s, d.runs[s][:0])
	}
	if d.pack = d.packed.Reset(d.runs); !d.pack {
		d.merger.Reset(d.sources(b)...)
	}
}

// read reads the merge start began, as Merger.Read does: (0, io.EOF) once
// every value is read.
func (d *Scratch) read(buf []int64) (int, error) {
	if !d.pack {
		return d.merger.Read(buf)
	}
	if d.packed.Done() {
		return 0, io.EOF
	}
	return d.packed.Read(buf), nil
}

// fill merges the batch start began all at once, with Packed.Fill, which
// plays the merge from both ends and takes ~15% less time than read
// (BenchmarkPackedFill), when it can: packed, at most fillRuns segments,
// and into out if not nil (a sink takes values), else into d.all if it has
// at most fillMax values. It returns the merged values, or nil: merge with
// read instead (read also reports a batch with more values than out holds).
func (d *Scratch) fill(out []int64) []int64 {
	if !d.pack || len(d.runs) > fillRuns {
		return nil
	}
	n := d.packed.Len()
	dst := out
	if dst == nil {
		if n > fillMax {
			return nil
		}
		if cap(d.all) < n {
			d.all = make([]int64, max(n, 4096))
		}
		dst = d.all
	}
	if d.packed.Fill(dst) != n {
		return nil
	}
	return dst[:n]
}

// counts counts the batch start began instead of merging it (see
// merge.Packed.Counts), when it is packed and narrow enough, and no sink
// takes values (values): those need them merged.
func (d *Scratch) counts(values bool) (lo int64, counts []uint32, ok bool) {
	if !d.pack || values {
		return 0, nil, false
	}
	return d.packed.Counts()
}

// sources returns merge sources over b's segments, chunk by chunk, reusing
// their memory.
func (d *Scratch) sources(b *assemble.Batch) []merge.Source {
	d.chunks = slices.Grow(d.chunks[:0], int(b.Segments))[:b.Segments]
	d.srcs = d.srcs[:0]
	for s := range b.Segments {
		d.chunks[s] = chunkSource{c: b.Chunks(s, d.chunks[s].c[:0])}
		d.srcs = append(d.srcs, &d.chunks[s])
	}
	return d.srcs
}

// chunkSource is a merge.Source over the chunks of one held segment.
type chunkSource struct {
	c [][]int64
	i int
}

func (s *chunkSource) Next() ([]int64, error) {
	if s.i == len(s.c) {
		return nil, io.EOF
	}
	s.i++
	return s.c[s.i-1], nil
}
