package metrics

// Buckets are the upper bounds, in seconds, of the batch latency
// histogram: from 1ms to a minute.
var Buckets = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60}

// latency is a cumulative histogram over Buckets.
type latency struct {
	counts []uint64 // per bucket, not cumulative; one more for +Inf
	sum    float64
	n      uint64
}

func (l *latency) observe(v float64) {
	if l.counts == nil {
		l.counts = make([]uint64, len(Buckets)+1)
	}
	i := 0
	for i < len(Buckets) && v > Buckets[i] {
		i++
	}
	l.counts[i]++
	l.sum += v
	l.n++
}

// cumulative returns the count at or below each bucket's bound.
func (l *latency) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(Buckets))
	var c uint64
	for i, b := range Buckets {
		if l.counts != nil {
			c += l.counts[i]
		}
		out[b] = c
	}
	return out
}
