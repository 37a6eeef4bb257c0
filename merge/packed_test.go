package merge

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// splitChunks splits each run into chunks of random sizes, empty ones among
// them.
func splitChunks(rng *rand.Rand, runs [][]int64) [][][]int64 {
	out := make([][][]int64, len(runs))
	for i, r := range runs {
		for len(r) > 0 || rng.IntN(4) == 0 {
			n := min(len(r), rng.IntN(8))
			out[i] = append(out[i], r[:n])
			r = r[n:]
			if len(r) == 0 && rng.IntN(2) == 0 {
				break
			}
		}
	}
	return out
}

// listSource is a Source over a list of chunks.
type listSource struct{ chunks [][]int64 }

func (s *listSource) Next() ([]int64, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

// mergeWithMerger is the reference: Merger over the same chunks.
func mergeWithMerger(t *testing.T, runs [][][]int64) []int64 {
	srcs := make([]Source, len(runs))
	for i, r := range runs {
		srcs[i] = &listSource{chunks: r}
	}
	m := New(srcs...)
	var out []int64
	buf := make([]int64, 5)
	for {
		n, err := m.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Packed gives exactly what Merger gives, on random runs of random counts,
// lengths, chunkings and ranges (ties, negatives, empty runs and chunks,
// spans up to the widest it packs), read through buffers of random sizes;
// and it refuses exactly the ranges too wide to pack, instead of merging
// them wrong.
func TestPackedMatchesMerger(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var p Packed
	packed, refused, counted := 0, 0, 0
	for c := range 4000 {
		k := rng.IntN(20)
		b := 64 - uint(max(1, bitsLen(k))) // the widest span that packs is 2^b - 1
		spans := []uint64{3, 10, 1000, 1 << 40, 1<<b - 1, 1 << b, math.MaxUint64}
		span := spans[rng.IntN(len(spans))]
		base := int64(math.MinInt64) + rng.Int64N(1<<62)
		runs := make([][]int64, k)
		for i := range runs {
			r := make([]int64, rng.IntN(30))
			for j := range r {
				r[j] = base + int64(rng.Uint64N(span))
			}
			if len(r) > 1 && rng.IntN(2) == 0 { // reach the span's ends
				r[0], r[1] = base, base+int64(span-1)
			}
			slices.Sort(r)
			runs[i] = r
		}
		chunks := splitChunks(rng, runs)
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		for _, r := range runs {
			if len(r) > 0 {
				lo, hi = min(lo, r[0]), max(hi, r[len(r)-1])
			}
		}
		fits := lo > hi || uint64(hi)-uint64(lo) < 1<<b
		if ok := p.Reset(chunks); ok != fits {
			t.Fatalf("case %d: Reset = %v for %d runs spanning %d (packs below 2^%d)", c, ok, k, uint64(hi)-uint64(lo), b)
		}
		if !fits {
			refused++
			continue
		}
		packed++
		var got []int64
		buf := make([]int64, 1+rng.IntN(7))
		for {
			n := p.Read(buf)
			if n == 0 {
				break
			}
			got = append(got, buf[:n]...)
		}
		want := mergeWithMerger(t, chunks)
		if !slices.Equal(got, want) {
			t.Fatalf("case %d (k=%d, span %d): packed %v, merger %v", c, k, span, got, want)
		}
		p.Reset(chunks)
		if p.Len() != len(want) {
			t.Fatalf("case %d: Len %d, want %d", c, p.Len(), len(want))
		}
		if len(want) > 0 && p.Fill(make([]int64, len(want)-1)) != -1 {
			t.Fatalf("case %d: Fill into a short dst did not refuse", c)
		}
		filled := make([]int64, len(want)+rng.IntN(3))
		if n := p.Fill(filled); n != len(want) || !slices.Equal(filled[:n], want) {
			t.Fatalf("case %d (k=%d, span %d): Fill %d %v, merger %v", c, k, span, n, filled[:max(n, 0)], want)
		}
		if !p.Done() || p.Read(buf) != 0 {
			t.Fatalf("case %d: not Done after Fill, or Read gives more", c)
		}
		// Done before any Read says whether there is anything to read.
		p.Reset(chunks)
		if p.Done() != (len(want) == 0) {
			t.Fatalf("case %d: Done %v before any Read, with %d values", c, p.Done(), len(want))
		}
		// Counts describes the merge when fewer distinct values than
		// values could occur, and otherwise reads nothing.
		narrow := len(want) > 0 && uint64(hi)-uint64(lo) < uint64(len(want)) && uint64(hi)-uint64(lo) < maxCounted
		switch clo, counts, ok := p.Counts(); {
		case ok != narrow:
			t.Fatalf("case %d: Counts ok %v for %d values in [%d, %d]", c, ok, len(want), lo, hi)
		case ok:
			counted++
			var got []int64
			for d, n := range counts {
				for range n {
					got = append(got, clo+int64(d))
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("case %d: Counts (lo %d) %v, merger %v", c, clo, counts, want)
			}
			if !p.Done() || p.Read(buf) != 0 {
				t.Fatalf("case %d: not Done after Counts, or Read gives more", c)
			}
		default:
			if n := p.Fill(filled); n != len(want) || !slices.Equal(filled[:n], want) {
				t.Fatalf("case %d: Fill after a refused Counts %v, merger %v", c, filled[:max(n, 0)], want)
			}
		}
	}
	if packed < 1000 || refused < 100 || counted < 300 {
		t.Fatalf("%d cases packed, %d refused, %d counted: the test does not reach all three", packed, refused, counted)
	}
}

func bitsLen(k int) int {
	n := 0
	for k > 0 {
		n++
		k >>= 1
	}
	return n
}

// benchChunks is benchRuns(k), each run in chunks of 10,000 values.
func benchChunks(k int) [][][]int64 {
	chunks := make([][][]int64, k)
	for i, r := range benchRuns(k) {
		for len(r) > 0 {
			n := min(len(r), 10000)
			chunks[i] = append(chunks[i], r[:n])
			r = r[n:]
		}
	}
	return chunks
}

func BenchmarkPacked(b *testing.B) {
	for _, k := range []int{2, 10, 16, 32, 100} {
		chunks := benchChunks(k)
		dst := make([]int64, 4096)
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			var p Packed
			for b.Loop() {
				if !p.Reset(chunks) {
					b.Fatal("refused")
				}
				for p.Read(dst) > 0 {
				}
			}
			b.ReportMetric(float64(benchTotal)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mints/s")
		})
	}
}

// BenchmarkPackedFill is BenchmarkPacked through Fill: faster up to 16 runs,
// slower from 32 (two trees' cursors over twice the runs). seed is the
// original workload's batch, 10 runs of 15 values in 1..10, which Fill
// counts; seed-trees is the same merged by the trees, for comparison.
func BenchmarkPackedFill(b *testing.B) {
	seed := make([][][]int64, 10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range seed {
		r := make([]int64, 15)
		for j := range r {
			r[j] = 1 + rng.Int64N(10)
		}
		slices.Sort(r)
		seed[i] = [][]int64{r}
	}
	for _, name := range []string{"seed", "seed-trees"} {
		dst := make([]int64, 150)
		b.Run(name, func(b *testing.B) {
			var p Packed
			for b.Loop() {
				if !p.Reset(seed) {
					b.Fatal("refused")
				}
				if name == "seed-trees" {
					p.span = maxCounted // past what Fill counts
				}
				p.Fill(dst)
			}
			b.ReportMetric(150*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mints/s")
		})
	}
	for _, k := range []int{2, 10, 16, 32, 100} {
		chunks := benchChunks(k)
		dst := make([]int64, benchTotal)
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			var p Packed
			for b.Loop() {
				if !p.Reset(chunks) {
					b.Fatal("refused")
				}
				p.Fill(dst)
			}
			b.ReportMetric(float64(benchTotal)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mints/s")
		})
	}
}
