package sink

import (
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// BenchmarkWriter renders one merged batch of 100,000 integers in 0..1e9
// (the bulk workload's batch) through a Writer onto io.Discard, handed over
// 4,096 values at a time as the merge hands them; it reports integers
// formatted per second, the figure the JSONL target is set in.
func BenchmarkWriter(b *testing.B) {
	const n, step = 100_000, 4096
	r := rand.New(rand.NewPCG(5, 6))
	vals := make([]int64, n)
	for i := range vals {
		vals[i] = r.Int64N(1e9)
	}
	slices.Sort(vals)
	for _, format := range []Format{JSONL, Text} {
		b.Run(string(format), func(b *testing.B) {
			w := NewWriter(io.Discard, format, false)
			b.ReportAllocs()
			id := int64(0)
			for b.Loop() {
				w.Begin(id)
				for rest := vals; len(rest) > 0; {
					k := min(step, len(rest))
					w.Write(rest[:k])
					rest = rest[k:]
				}
				if err := w.End(); err != nil {
					b.Fatal(err)
				}
				id++
			}
			b.ReportMetric(float64(n)*float64(id)/b.Elapsed().Seconds()/1e6, "Mints/s")
		})
	}
}
