package verify

import (
	"context"
	"fmt"
	"io"

	"github.com/segmerge/segmerge/gen"
	"github.com/segmerge/segmerge/merge"
)

// Generated describes input that a producer generated from a spec (package
// gen) rather than an input log: batches First..First+Batches-1 of Spec.
// Verify then regenerates each batch and merges it chunk by chunk, in a
// footprint of one chunk per segment, so a run of a hundred million
// integers needs neither an input log on disk nor its data in memory.
//
// It trusts the producer to have written what its generator gives, which
// the producer's own tests check; it trusts nothing the consumer says.
type Generated struct {
	Spec    gen.Spec
	First   int64
	Batches int64
}

// genChunk is how many values a regenerated segment yields at a time.
const genChunk = 4096

// genSource is a merge.Source over one regenerated segment.
type genSource struct {
	g   gen.Segment
	buf []int64
}

func (s *genSource) Next() ([]int64, error) {
	if s.g.Left() == 0 {
		return nil, io.EOF
	}
	s.buf = s.g.Fill(s.buf[:0], genChunk)
	return s.buf, nil
}

// generated returns the fingerprint of every batch g describes.
func generated(ctx context.Context, g *Generated) (map[int64]print, error) {
	if g.Batches < 0 || g.Spec.Segments < 1 || g.Spec.MaxLen < g.Spec.MinLen || g.Spec.MaxValue < g.Spec.MinValue {
		return nil, fmt.Errorf("verify: generated input: invalid spec %+v of %d batches", g.Spec, g.Batches)
	}
	want := make(map[int64]print, g.Batches)
	srcs := make([]genSource, g.Spec.Segments)
	ptrs := make([]merge.Source, g.Spec.Segments)
	var (
		lens []int
		m    merge.Merger
		buf  = make([]int64, genChunk)
	)
	for id := g.First; id < g.First+g.Batches; id++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lens = g.Spec.Batch(id, lens)
		for s, n := range lens {
			srcs[s].g.Reset(g.Spec, id, int64(s), n)
			ptrs[s] = &srcs[s]
		}
		m.Reset(ptrs...)
		p, err := mergedPrint(&m, buf)
		if err != nil {
			return nil, fmt.Errorf("regenerate batch %d: %w", id, err)
		}
		want[id] = p
	}
	return want, nil
}
