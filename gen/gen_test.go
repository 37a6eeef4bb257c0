package gen

import (
	"math"
	"slices"
	"testing"
)

func TestSegmentSortedInRangeAndReproducible(t *testing.T) {
	specs := []Spec{
		{Segments: 10, MinLen: 10, MaxLen: 20, MinValue: 1, MaxValue: 10, Seed: 1},
		{Segments: 3, MinLen: 0, MaxLen: 5, MinValue: -5, MaxValue: 5, Seed: 2},
		{Segments: 2, MinLen: 1000, MaxLen: 1000, MinValue: 0, MaxValue: 1e9, Seed: 3},
		{Segments: 2, MinLen: 100, MaxLen: 100, MinValue: math.MinInt64, MaxValue: math.MaxInt64, Seed: 4},
		{Segments: 1, MinLen: 50, MaxLen: 50, MinValue: 7, MaxValue: 7, Seed: 5},
	}
	for _, s := range specs {
		for b := int64(0); b < 20; b++ {
			lens := s.Batch(b, nil)
			if len(lens) != s.Segments {
				t.Fatalf("%+v batch %d: %d lengths", s, b, len(lens))
			}
			for seg, n := range lens {
				if n < s.MinLen || n > s.MaxLen {
					t.Fatalf("length %d outside [%d,%d]", n, s.MinLen, s.MaxLen)
				}
				var g Segment
				g.Reset(s, b, int64(seg), n)
				var whole []int64
				for g.Left() > 0 { // odd chunk sizes cross the boundaries
					whole = g.Fill(whole, 7)
				}
				if len(whole) != n || !slices.IsSorted(whole) {
					t.Fatalf("%+v batch %d seg %d: len %d sorted %v", s, b, seg, len(whole), slices.IsSorted(whole))
				}
				for _, v := range whole {
					if v < s.MinValue || v > s.MaxValue {
						t.Fatalf("value %d outside [%d,%d]", v, s.MinValue, s.MaxValue)
					}
				}
				g.Reset(s, b, int64(seg), n)
				again := g.Fill(nil, n)
				if !slices.Equal(whole, again) {
					t.Fatalf("batch %d seg %d not reproducible", b, seg)
				}
			}
		}
	}
}

// The values must look uniform, or the merge is only ever tested on skewed
// data: a chi-square test over 10 buckets at a generous threshold.
func TestSegmentUniform(t *testing.T) {
	s := Spec{MinValue: 0, MaxValue: 9, Seed: 42}
	var counts [10]int
	var g Segment
	const segs, n = 200, 500
	for i := range segs {
		g.Reset(s, int64(i), 0, n)
		for _, v := range g.Fill(nil, n) {
			counts[v]++
		}
	}
	exp := float64(segs*n) / 10
	chi := 0.0
	for _, c := range counts {
		chi += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if chi > 30 { // 9 degrees of freedom: p < 0.001 past 27.9
		t.Fatalf("chi-square %.1f for counts %v: not uniform", chi, counts)
	}
}

func BenchmarkSegmentFill(b *testing.B) {
	s := Spec{MinValue: 0, MaxValue: 1e9, Seed: 1}
	var g Segment
	buf := make([]int64, 0, 10000)
	b.ReportAllocs()
	for b.Loop() {
		g.Reset(s, 1, 1, 10000)
		buf = g.Fill(buf[:0], 10000)
	}
	b.ReportMetric(float64(b.N)*10000/b.Elapsed().Seconds()/1e6, "Mints/s")
}
