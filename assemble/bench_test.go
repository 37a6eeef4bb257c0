package assemble

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkSeedBatches assembles batches of the original workload's shape
// (10 segments of 10-20 values in 1..10, segment s on partition s, one
// record each) the way the consumer does: a poll's worth of records added
// partition by partition, then every batch released, merged and done. It
// counts batches; what it measures is the assembler's own work, the
// records being made beforehand.
func BenchmarkSeedBatches(b *testing.B) {
	const segs, poll = 10, 1000 // batches a poll
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([][]int64, 64)
	for i := range data {
		d := make([]int64, 10+rng.IntN(11))
		for j := range d {
			d[j] = int64(1 + rng.IntN(10))
		}
		for j := 1; j < len(d); j++ { // sorted
			for k := j; k > 0 && d[k] < d[k-1]; k-- {
				d[k], d[k-1] = d[k-1], d[k]
			}
		}
		data[i] = d
	}
	recs := make([]Record, segs*poll)
	a := New(Config{Segments: segs, Partitions: segs, Whole: true})
	for p := range int32(segs) {
		a.Assign(p, Start{Next: 0})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += poll {
		base := int64(done)
		for p := range segs {
			for i := range poll {
				r := &recs[p*poll+i]
				*r = Record{Partition: int32(p), Offset: base + int64(i), BatchID: base + int64(i), SegmentID: int64(p), Last: true, Data: data[(p*7+i)%len(data)]}
				if v, err := a.Add(r); v != Accepted {
					b.Fatalf("batch %d segment %d: %v %v", r.BatchID, p, v, err)
				}
			}
			a.Position(int32(p), base+poll, true)
		}
		for bt := a.Next(); bt != nil; bt = a.Next() {
			a.Merged(bt)
			a.Done(bt)
		}
	}
}
