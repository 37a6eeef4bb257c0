// Package gen makes the producer's test data: sorted segments of random
// integers, reproducible from a seed.
//
// A segment is generated as a stream, smallest value first, without sorting
// and without holding the segment: the generator draws the ascending order
// statistics of n uniform variables one after another (the minimum of m
// uniforms on [u,1) is u + (1-u)·(1-V^(1/m)) for V uniform on [0,1)), and maps
// each onto the integer range. So a producer can write a segment of ten
// million integers in chunks with a footprint of one chunk. Each value costs
// one math.Pow; generation never allocates after New.
//
// The package knows nothing of Kafka or JSON.
package gen

import (
	"math"
	"math/rand/v2"
)

// Spec is the shape of generated batches. Lengths and values are inclusive
// ranges, as in the original producer (defaults 10..20 and 1..10).
type Spec struct {
	Segments int   // segments per batch, >= 1
	MinLen   int   // shortest segment, >= 0
	MaxLen   int   // longest segment, >= MinLen
	MinValue int64 // smallest value
	MaxValue int64 // largest value, >= MinValue
	Seed     uint64
}

// Batch returns the lengths of the segments of batch id under spec. The
// lengths, and every value later drawn with Segment, depend only on (seed,
// batch id, segment id), so a restarted producer, or a test, can regenerate
// any batch alone.
func (s Spec) Batch(batchID int64, lens []int) []int {
	r := rand.New(rand.NewPCG(s.Seed, uint64(batchID)))
	lens = lens[:0]
	for range s.Segments {
		lens = append(lens, s.MinLen+r.IntN(s.MaxLen-s.MinLen+1))
	}
	return lens
}

// Segment is a stream of the ascending values of one generated segment.
// Its zero value is an empty stream; Reset starts a new one.
type Segment struct {
	rng  rand.PCG
	left int     // values still to draw
	u    float64 // the last order statistic drawn, in [0,1)
	lo   int64
	span float64 // MaxValue-MinValue+1, as a float
	hi   int64
	last int64 // the last value given, to keep ascending order at the int64 edges
}

// Reset starts the stream of segment segID of batch batchID with n values.
func (g *Segment) Reset(s Spec, batchID, segID int64, n int) {
	g.rng.Seed(s.Seed^0x9e3779b97f4a7c15, uint64(batchID)<<20^uint64(segID))
	g.left = n
	g.u = 0
	g.last = s.MinValue
	g.lo, g.hi = s.MinValue, s.MaxValue
	g.span = float64(s.MaxValue) - float64(s.MinValue) + 1
}

// Left reports how many values the stream has still to give.
func (g *Segment) Left() int { return g.left }

// Fill appends up to max values of the stream to dst, in ascending order,
// and returns it. It returns dst unchanged once the stream is exhausted.
func (g *Segment) Fill(dst []int64, max int) []int64 {
	for ; max > 0 && g.left > 0; max-- {
		v := float64(g.rng.Uint64()>>11) / (1 << 53) // uniform on [0,1)
		g.u += (1 - g.u) * (1 - math.Pow(v, 1/float64(g.left)))
		g.left--
		x := g.lo + int64(g.u*g.span)
		if g.u*g.span >= g.span || x > g.hi || x < g.lo { // rounding at the top
			x = g.hi
		}
		if x < g.last {
			// Never for spans a float64 holds exactly; near the
			// int64 limits float64 cannot tell neighbours apart.
			x = g.last
		}
		g.last = x
		dst = append(dst, x)
	}
	return dst
}
