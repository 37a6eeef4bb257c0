package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The latency histogram puts each observation in the first bucket whose
// bound it does not pass, and the collector exports it cumulatively with
// the count and sum; lag comes out per partition, dropped partitions gone.
func TestCollectorExportsWhatTheRunCounted(t *testing.T) {
	var r Run
	for _, d := range []time.Duration{500 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Minute} {
		r.Latency(d)
	}
	r.SetLag("t", 0, 5)
	r.SetLag("t", 1, -3) // a position past the watermark the client last saw
	r.SetLag("t", 2, 7)
	r.DropLag("t", 2)
	r.DeadLetter("not-json", 2)
	r.Batches.Add(9)
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector(&r, Consume, "v1"))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		got[f.GetName()] = f
	}
	h := got[BatchLatency].GetMetric()[0].GetHistogram()
	want := map[float64]uint64{0.001: 2, 0.002: 2, 0.005: 3, 60: 3}
	for _, b := range h.GetBucket() {
		if n, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != n {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), n)
		}
	}
	if h.GetSampleCount() != 4 {
		t.Errorf("count %d, want 4", h.GetSampleCount())
	}
	lag := got[ConsumerLag].GetMetric()
	if len(lag) != 2 || lag[0].GetGauge().GetValue()+lag[1].GetGauge().GetValue() != 5 {
		t.Errorf("lag %v, want partitions 0 (5) and 1 (0)", lag)
	}
	if v := got[DeadLetters].GetMetric()[0].GetCounter().GetValue(); v != 2 || r.Bad.Load() != 2 {
		t.Errorf("dead letters %v, bad %d; want 2", v, r.Bad.Load())
	}
	if v := got[BatchesMerged].GetMetric()[0].GetCounter().GetValue(); v != 9 {
		t.Errorf("batches %v, want 9", v)
	}
}

// What a run pays per batch for its figures: a latency observation (a
// lock and a bucket search) and two atomic adds.
func BenchmarkPerBatch(b *testing.B) {
	var r Run
	for i := range b.N {
		r.Latency(time.Duration(i%1000) * time.Microsecond)
		r.Batches.Add(1)
		r.Integers.Add(150)
	}
}

// What a scrape costs the run: the collector reads under the same lock.
func BenchmarkCollect(b *testing.B) {
	var r Run
	for p := range int32(10) {
		r.SetLag("segment-topic", p, int64(p))
	}
	r.DeadLetter("not-json", 1)
	c := Collector(&r, Consume, "v1")
	ch := make(chan prometheus.Metric, 64)
	for b.Loop() {
		c.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
}
