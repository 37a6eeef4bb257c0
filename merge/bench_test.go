package merge

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// benchTotal is how many integers one benchmark iteration merges.
const benchTotal = 1_000_000

// benchRuns splits benchTotal random values in [0, 1e9) over k sorted runs.
func benchRuns(k int) [][]int64 {
	rng := rand.New(rand.NewPCG(1, uint64(k)))
	runs := make([][]int64, k)
	for i := range runs {
		n := benchTotal / k
		if i < benchTotal%k {
			n++
		}
		r := make([]int64, n)
		for j := range r {
			r[j] = rng.Int64N(1e9)
		}
		slices.Sort(r)
		runs[i] = r
	}
	return runs
}

// disjointRuns splits 0..benchTotal-1 into k runs that do not overlap, the
// shape where the winner keeps winning for a whole run.
func disjointRuns(k int) [][]int64 {
	runs := make([][]int64, k)
	v := int64(0)
	for i := range runs {
		r := make([]int64, benchTotal/k)
		for j := range r {
			r[j] = v
			v++
		}
		runs[k-1-i] = r // reverse, so source order does not match value order
	}
	return runs
}

// benchSources wraps runs as reusable Sources: a Slice each, or a chunkSource
// each if chunk > 0.
type benchSources struct {
	runs   [][]int64
	chunk  int
	slices []Slice
	chunks []chunkSource
	srcs   []Source
}

func newBenchSources(runs [][]int64, chunk int) *benchSources {
	s := &benchSources{runs: runs, chunk: chunk, srcs: make([]Source, len(runs))}
	if chunk > 0 {
		s.chunks = make([]chunkSource, len(runs))
	} else {
		s.slices = make([]Slice, len(runs))
	}
	return s
}

// reset rewinds every source without allocating and returns them.
func (s *benchSources) reset() []Source {
	for i, r := range s.runs {
		if s.chunk > 0 {
			s.chunks[i].run, s.chunks[i].size = r, s.chunk // keep buf
			s.srcs[i] = &s.chunks[i]
		} else {
			s.slices[i].Reset(r)
			s.srcs[i] = &s.slices[i]
		}
	}
	return s.srcs
}

// chunkSource yields a run in chunks of size values, copied into one reused
// buffer the way a source decoding Kafka records would.
type chunkSource struct {
	run  []int64
	size int
	buf  []int64
}

func (c *chunkSource) Next() ([]int64, error) {
	if len(c.run) == 0 {
		return nil, io.EOF
	}
	n := min(c.size, len(c.run))
	c.buf = append(c.buf[:0], c.run[:n]...)
	c.run = c.run[n:]
	return c.buf, nil
}

// benchMerge merges the runs once per iteration through a reused Merger,
// reading 4096 values at a time.
func benchMerge(b *testing.B, runs [][]int64, chunk int) {
	total := 0
	for _, r := range runs {
		total += len(r)
	}
	src := newBenchSources(runs, chunk)
	m := New()
	buf := make([]int64, 4096)
	drain := func() {
		m.Reset(src.reset()...)
		got := 0
		for {
			n, err := m.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
		if got != total {
			b.Fatalf("merged %d values, want %d", got, total)
		}
	}
	drain() // size the Merger and the chunk buffers: steady state from here
	b.SetBytes(int64(8 * total))
	b.ReportAllocs()
	iters := 0
	for b.Loop() {
		drain()
		iters++
	}
	b.ReportMetric(float64(total)*float64(iters)/b.Elapsed().Seconds()/1e6, "Mints/s")
}

// BenchmarkMerge merges about 1e6 random values split over k sorted runs.
func BenchmarkMerge(b *testing.B) {
	for _, k := range []int{2, 10, 100} {
		runs := benchRuns(k)
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) { benchMerge(b, runs, 0) })
	}
}

// BenchmarkMergeChunked is BenchmarkMerge at k=10 with every run read in
// chunks of 10,000 values through a source that reuses its buffer.
func BenchmarkMergeChunked(b *testing.B) {
	runs := benchRuns(10)
	b.Run("k=10/chunk=10000", func(b *testing.B) { benchMerge(b, runs, 10_000) })
}

// BenchmarkMergeDisjoint merges k runs that do not overlap, where each winner
// keeps winning until its run ends.
func BenchmarkMergeDisjoint(b *testing.B) {
	for _, k := range []int{10} {
		runs := disjointRuns(k)
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) { benchMerge(b, runs, 0) })
	}
}

// BenchmarkMergeFunc measures the one-shot Merge function, which allocates
// its output.
func BenchmarkMergeFunc(b *testing.B) {
	for _, k := range []int{2, 10} {
		runs := benchRuns(k)
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			b.SetBytes(8 * benchTotal)
			b.ReportAllocs()
			dst := make([]int64, 0, benchTotal)
			for b.Loop() {
				dst = Merge(dst[:0], runs...)
			}
		})
	}
}
