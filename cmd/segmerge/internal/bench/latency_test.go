package bench

import (
	"testing"
	"time"
)

func TestLineBatch(t *testing.T) {
	for _, tc := range []struct {
		line string
		id   int64
		ok   bool
	}{
		{`{"batch_id":7,"data":[1,2]}`, 7, true},
		{`{"batch_id":12345678901,"data":[]}`, 12345678901, true},
		{`batch 7: 1 2`, 0, false},
		{`{"batch_id":7`, 0, false},
		{`{"batch_id":x,"data":[]}`, 0, false},
	} {
		id, ok := lineBatch([]byte(tc.line))
		if id != tc.id || ok != tc.ok {
			t.Errorf("lineBatch(%q) = %d, %v; want %d, %v", tc.line, id, ok, tc.id, tc.ok)
		}
	}
}

func TestFlagValue(t *testing.T) {
	args := []string{"--memory", "1GiB", "--commit-interval", "5s", "--commit-interval=200ms"}
	if v, ok := flagValue(args, "--commit-interval"); !ok || v != "200ms" {
		t.Errorf("the last --commit-interval: %q %v, want 200ms", v, ok)
	}
	if _, ok := flagValue(args, "--session-timeout"); ok {
		t.Error("found a flag that is not there")
	}
	if _, ok := flagValue([]string{"--commit-interval"}, "--commit-interval"); ok {
		t.Error("a flag with no value has a value")
	}
}

// The quantiles come from the batches seen from the warm-up on, against
// their own stamps; a batch not seen is not counted.
func TestFillQuantiles(t *testing.T) {
	const n = 1000
	base := time.Unix(1e9, 0)
	stamps := make([]time.Time, n)
	s := newSeen(SinkFile, n+2) // 2 warm-up batches, seen late
	s.mark(0, base.Add(time.Hour))
	s.mark(1, base.Add(time.Hour))
	for i := range n {
		stamps[i] = base.Add(time.Duration(i) * time.Millisecond)
		if i == 500 {
			continue // never seen
		}
		// batch i takes i%100+1 ms, and the last 1 takes a second
		d := time.Duration(i%100+1) * time.Millisecond
		if i == n-1 {
			d = time.Second
		}
		s.mark(int64(i+2), stamps[i].Add(d))
	}
	s.mark(3, base.Add(time.Hour)) // seen again: the first sighting counts
	var row LatencyResult
	row.fill(s, stamps, 2)
	if row.Batches != n-1 {
		t.Fatalf("%d batches counted, want %d", row.Batches, n-1)
	}
	if row.P50 < 49 || row.P50 > 52 || row.P99 != 100 || row.Max != 1000 {
		t.Fatalf("p50 %v p99 %v max %v, want about 50, 100, 1000", row.P50, row.P99, row.Max)
	}
}

func TestLatencyChecks(t *testing.T) {
	rows := []LatencyResult{
		{Workload: "latency", Rate: 1000, Sink: SinkFile, P99: 19},
		{Workload: "latency", Rate: 10000, Sink: SinkFile, P99: 50},
		{Workload: "latency", Rate: 1000, Sink: SinkTopic, CommitInterval: "100ms", P99: 151},
		{Workload: "latency", Rate: 1000, Sink: SinkFollower, P99: 1},
	}
	cs := latencyChecks(rows)
	if len(cs) != 2 || !cs[0].Met || cs[1].Met {
		t.Fatalf("checks %+v: want the file at 1000/s met (19 <= 20) and the topic missed (151 > 150)", cs)
	}
}
