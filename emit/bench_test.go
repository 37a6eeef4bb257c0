package emit

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/sink"
)

// seedBatches assembles n batches of the original workload's shape: 10
// segments of 10-20 values in 1..10.
func seedBatches(b *testing.B, n int) []*assemble.Batch {
	a := assemble.New(assemble.Config{Segments: 10, Partitions: 10, Whole: true})
	for p := range int32(10) {
		a.Assign(p, assemble.Start{Next: 0})
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for id := range int64(n) {
		for s := range int64(10) {
			data := make([]int64, 10+rng.IntN(11))
			for i := range data {
				data[i] = 1 + rng.Int64N(10)
			}
			slices.Sort(data)
			r := &assemble.Record{Partition: int32(s), Offset: id, BatchID: id, SegmentID: s, Last: true, Data: data}
			if v, err := a.Add(r); v != assemble.Accepted {
				b.Fatalf("batch %d segment %d: %v %v", id, s, v, err)
			}
		}
	}
	var bs []*assemble.Batch
	for bt := a.Next(); bt != nil; bt = a.Next() {
		bs = append(bs, bt)
	}
	return bs
}

// BenchmarkSeedLines renders the lines of seed-shaped batches the two ways
// Pipeline.merge can: from the values' counts (counted: what it does when
// only lines are written), and merged whole, then rendered value by value
// (merged: what it does when a sink also takes values).
func BenchmarkSeedLines(b *testing.B) {
	bs := seedBatches(b, 1000)
	ints := 0
	for _, bt := range bs {
		ints += bt.Len()
	}
	for _, counted := range []bool{true, false} {
		name := "merged"
		if counted {
			name = "counted"
		}
		b.Run(name, func(b *testing.B) {
			var d Scratch
			line := make([]byte, 0, 1<<20)
			for b.Loop() {
				line = line[:0]
				for _, bt := range bs {
					d.start(bt)
					line = sink.JSONL.AppendStart(line, bt.ID)
					if lo, counts, ok := d.counts(!counted); ok {
						line = sink.JSONL.AppendCounted(line, lo, counts, true)
					} else {
						line = sink.JSONL.AppendValues(line, d.fill(nil), true)
					}
					line = sink.JSONL.AppendEnd(line)
				}
			}
			b.ReportMetric(float64(ints)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mints/s")
		})
	}
}
