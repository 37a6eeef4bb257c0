package feed

import (
	"testing"
	"time"
)

// Each lane is sorted, starts within the skew, and has gaps no longer
// than Gap; the same seed draws the same lanes.
func TestLanes(t *testing.T) {
	start := time.UnixMilli(1_000_000)
	draw := func() [][]int64 {
		var out [][]int64
		for _, l := range Lanes(7, 4, start, 2*time.Second, time.Second) {
			var ts []int64
			for range 2000 {
				_, t := l.Next()
				ts = append(ts, t)
			}
			out = append(out, ts)
		}
		return out
	}
	a, b := draw(), draw()
	gaps := 0
	for p, lane := range a {
		if lane[0] < start.UnixMilli() || lane[0] > start.UnixMilli()+2000 {
			t.Fatalf("partition %d starts at %d, outside the skew", p, lane[0])
		}
		for i := 1; i < len(lane); i++ {
			d := lane[i] - lane[i-1]
			if d < 0 || d > 1000 {
				t.Fatalf("partition %d: %d after %d", p, lane[i], lane[i-1])
			}
			if d > 3 {
				gaps++
			}
			if lane[i] != b[p][i] {
				t.Fatalf("the same seed drew %d and %d", lane[i], b[p][i])
			}
		}
	}
	if gaps == 0 {
		t.Fatal("no gaps in 8000 records")
	}
}

func TestValue(t *testing.T) {
	if got := string(Value(nil, 3, 17, 1700000000123, 0)); got != `{"p":3,"seq":17,"ts":1700000000123}` {
		t.Fatal(got)
	}
	if got := string(Value(nil, 3, 17, 1700000000123, 4)); got != `{"p":3,"seq":17,"ts":1700000000123,"pad":"xxxx"}` {
		t.Fatal(got)
	}
}

func TestChecker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		bad    bool
	}{
		{"in order", []string{`{"p":1,"seq":0,"ts":5}`, `{"p":0,"seq":0,"ts":6}`, `{"p":0,"seq":1,"ts":6}`, `{"p":1,"seq":1,"ts":6}`}, false},
		{"ts backwards", []string{`{"p":0,"seq":0,"ts":6}`, `{"p":1,"seq":0,"ts":5}`}, true},
		{"tie, partition backwards", []string{`{"p":1,"seq":0,"ts":6}`, `{"p":0,"seq":0,"ts":6}`}, true},
		{"twice", []string{`{"p":0,"seq":0,"ts":6}`, `{"p":0,"seq":0,"ts":6}`}, true},
		{"not a feed record", []string{`nope`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Checker
			for _, v := range tc.values {
				c.Add([]byte(v))
			}
			if (c.Err() != nil) != tc.bad {
				t.Fatalf("err %v, want bad %v", c.Err(), tc.bad)
			}
		})
	}
}
