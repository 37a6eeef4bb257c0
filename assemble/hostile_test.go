package assemble

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// rec1 is a one-chunk segment record.
func rec1(p int32, off, batch, seg, segs int64) *Record {
	return &Record{Partition: p, Offset: off, BatchID: batch, SegmentID: seg, Segments: segs, Last: true, Data: []int64{batch}}
}

func reason(err error) string {
	var rej *Reject
	if errors.As(err, &rej) {
		return rej.Reason
	}
	return ""
}

// A record claiming a huge segment count is charged for the bookkeeping
// it claims: past MaxClaimBytes such new batches are refused as
// over-budget, while batches already begun, and the lowest one, go on.
func TestClaimsAreChargedToTheBudget(t *testing.T) {
	a := New(Config{Segments: 2, Partitions: 2, Whole: true, MaxClaimBytes: 1 << 20})
	a.Assign(0, Start{Next: 0})
	a.Assign(1, Start{Next: 0})
	if v, err := a.Add(rec1(0, 0, 0, 0, 2)); v != Accepted {
		t.Fatal(err)
	}
	off := int64(1)
	refused := 0
	for b := int64(1); b <= 100; b++ {
		v, err := a.Add(rec1(0, off, b, 0, MaxSegments))
		off++
		switch {
		case v == Rejected && reason(err) == ReasonOverBudget:
			refused++
		case v != Accepted:
			t.Fatalf("batch %d: %v %v", b, v, err)
		}
		if a.PendingBytes() > 1<<20 {
			t.Fatalf("after batch %d pending bytes %d passed the bound", b, a.PendingBytes())
		}
	}
	if refused < 98 {
		t.Fatalf("%d of 100 claims of %d segments refused within 1 MiB, want nearly all", refused, MaxSegments)
	}
	// Batch 0, begun before, completes and is released.
	if v, err := a.Add(rec1(1, 0, 0, 1, 2)); v != Accepted {
		t.Fatal(err)
	}
	a.Position(0, off, false)
	a.Position(1, 1, false)
	if b := a.Next(); b == nil || b.ID != 0 || !b.Complete() {
		t.Fatalf("batch 0 not released whole: %+v", b)
	}
	// A new lowest batch fits alone even when the budget is full.
	b := New(Config{Segments: 2, Partitions: 2, MaxClaimBytes: batchCost(MaxSegments) + 1000})
	b.Assign(0, Start{Next: 0})
	if v, err := b.Add(rec1(0, 0, 10, 0, MaxSegments)); v != Accepted {
		t.Fatal(err)
	}
	if v, err := b.Add(rec1(0, 1, 5, 0, 2)); v != Rejected || reason(err) != ReasonBackwards {
		t.Fatalf("a lower batch after 10 on the same partition: %v %v", v, err)
	}
}

// One record far ahead on a partition (a hostile batch id, or a typo)
// does not hold the partition: the good records after it, below it,
// show it to be the outlier, it is evicted as far-ahead, and good batches
// flow and complete. A jump that every partition makes is no outlier.
func TestFarAheadOutlierIsEvicted(t *testing.T) {
	const P, S = 3, 3
	for _, tc := range []struct {
		name  string
		first bool  // the outlier comes before anything else is known
		id    int64 // the outlier's batch id
	}{
		{"after good batches", false, 1 << 62},
		{"before anything", true, 1 << 62},
		// The largest id: its distance to "nothing known" (-1)
		// overflows an int64.
		{"the largest id, after good batches", false, math.MaxInt64},
		{"the largest id, before anything", true, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(Config{Segments: S, Partitions: P, Whole: true, MaxBatchGap: 1000})
			offs := make([]int64, P)
			for p := range int32(P) {
				a.Assign(p, Start{Next: 0})
			}
			add := func(p int32, batch, seg int64) (Verdict, error) {
				v, err := a.Add(rec1(p, offs[p], batch, seg, S))
				offs[p]++
				a.Position(p, offs[p], false)
				return v, err
			}
			batch := func(b int64) {
				for s := range int64(S) {
					if v, err := add(int32(s%P), b, s); v != Accepted {
						t.Fatalf("batch %d segment %d: %v %v", b, s, v, err)
					}
				}
			}
			if !tc.first {
				batch(0)
				batch(1)
			}
			if v, err := add(2, tc.id, 2); v != Accepted {
				t.Fatalf("the outlier itself: %v %v", v, err)
			}
			var written []int64
			release := func() {
				for b := a.Next(); b != nil; b = a.Next() {
					if !b.Complete() {
						t.Fatalf("batch %d released incomplete, missing %v", b.ID, b.Missing)
					}
					written = append(written, b.ID)
					a.Done(b)
				}
			}
			release()
			for b := int64(2); b < 6; b++ {
				batch(b)
				release()
			}
			ev := a.Evicted()
			if ev == nil || ev.ID != tc.id || !ev.Evicted || len(ev.Records()) != 1 {
				t.Fatalf("evicted %+v, want the outlier", ev)
			}
			a.Done(ev)
			for _, want := range []int64{2, 3, 4} {
				if !slices.Contains(written, want) {
					t.Fatalf("written %v, not batch %d: good batches held back by the outlier", written, want)
				}
			}
		})
	}
	t.Run("a jump every partition makes", func(t *testing.T) {
		a := New(Config{Segments: S, Partitions: P, Whole: true, MaxBatchGap: 10})
		for p := range int32(P) {
			a.Assign(p, Start{Next: 0})
		}
		for i, b := range []int64{0, 5000, 5001} {
			for s := range int64(S) {
				if v, err := a.Add(rec1(int32(s), int64(i), b, s, S)); v != Accepted {
					t.Fatalf("batch %d segment %d: %v %v", b, s, v, err)
				}
			}
		}
		for p := range int32(P) {
			a.Position(p, 3, false)
		}
		var got []int64
		for b := a.Next(); b != nil; b = a.Next() {
			got = append(got, b.ID)
		}
		if !slices.Equal(got, []int64{0, 5000, 5001}) || a.Evicted() != nil {
			t.Fatalf("released %v (or evicted something): want 0, 5000 and 5001", got)
		}
	})
}

// A record of a batch below its partition's floor (done before this
// start, says the group's commit) is a replay: refused, never assembled
// again; in Lanes, which re-read such records after every restart, a
// duplicate.
func TestFloorRefusesReplays(t *testing.T) {
	a := New(Config{Segments: 1, Partitions: 1})
	a.Assign(0, Start{Next: 10, Floor: 5, HasFloor: true})
	if v, err := a.Add(rec1(0, 10, 4, 0, 1)); v != Rejected || reason(err) != ReasonReplayed {
		t.Fatalf("batch 4 below floor 5: %v %v", v, err)
	}
	if v, err := a.Add(rec1(0, 11, 5, 0, 1)); v != Accepted {
		t.Fatalf("batch 5 at the floor: %v %v", v, err)
	}
	if b := a.Next(); b == nil || b.ID != 5 {
		t.Fatalf("released %+v", b)
	} else {
		a.Done(b)
	}
	if f := a.Floor(); f != 6 {
		t.Fatalf("floor %d after batch 5 done, want 6", f)
	}
	l := NewLanes(Config{Segments: 1, Partitions: 1})
	l.Assign(0, Start{Next: 10, Floor: 5, HasFloor: true})
	if v, err := l.Add(rec1(0, 10, 4, 0, 1)); v != Duplicate {
		t.Fatalf("lanes: batch 4 below floor 5: %v %v", v, err)
	}
}

// Wanted over a batch that claims the most segments a batch may have
// costs O(segments x partitions), not O(segments^2).
func BenchmarkWantedHugeClaim(b *testing.B) {
	a := New(Config{Segments: 10, Partitions: 10, Whole: true, StreamAbove: 1 << 30})
	for p := range int32(10) {
		a.Assign(p, Start{Next: 0})
	}
	a.Add(rec1(0, 0, 1, 0, MaxSegments))
	var dst []int32
	for b.Loop() {
		dst = a.Wanted(dst[:0], nil)
	}
}

// Batches of the usual segment count are never refused for memory, however
// many are pending: when one partition lags, the others begin batch after
// batch, each good, and refusing them would drop good data. Pausing bounds
// what they hold, not the assembler.
func TestUsualBatchesAreNeverRefused(t *testing.T) {
	a := New(Config{Segments: 2, Partitions: 2, Whole: true, MaxClaimBytes: 1 << 10})
	a.Assign(0, Start{Next: 0})
	a.Assign(1, Start{Next: 0})
	const n = 5000
	for b := range int64(n) { // partition 0 runs ahead; partition 1 has sent nothing
		if v, err := a.Add(rec1(0, b, b, 0, 2)); v != Accepted {
			t.Fatalf("batch %d, with %d pending: %v %v", b, b, v, err)
		}
	}
	for b := range int64(n) {
		if v, err := a.Add(rec1(1, b, b, 1, 0)); v != Accepted {
			t.Fatalf("batch %d's second segment: %v %v", b, v, err)
		}
	}
	a.Position(0, n, false)
	a.Position(1, n, false)
	for want := range int64(n) {
		if b := a.Next(); b == nil || b.ID != want || !b.Complete() {
			t.Fatalf("batch %d not released whole: %+v", want, b)
		}
	}
}
