package assemble

import (
	"math/rand/v2"
	"testing"
)

// A fingerprint changes with any one value, in any lane or the tail, with
// the last flag, and with the length (a zero more), and it is never 0.
func TestFingerprintSeesEveryChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 13 {
		data := make([]int64, n)
		for i := range data {
			data[i] = rng.Int64N(1e9)
		}
		r := &Record{Data: data}
		base := fingerprint(r)
		if base == 0 {
			t.Fatalf("n=%d: fingerprint 0", n)
		}
		for i := range data {
			for _, delta := range []int64{1, 1 << 40, -1 << 62} {
				data[i] += delta
				if fingerprint(r) == base {
					t.Fatalf("n=%d: value %d changed by %d, same fingerprint", n, i, delta)
				}
				data[i] -= delta
			}
		}
		if n >= 2 && data[0] != data[1] {
			data[0], data[1] = data[1], data[0]
			if fingerprint(r) == base {
				t.Fatalf("n=%d: first two values swapped, same fingerprint", n)
			}
			data[0], data[1] = data[1], data[0]
		}
		r.Last = true
		if fingerprint(r) == base {
			t.Fatalf("n=%d: last flag set, same fingerprint", n)
		}
		longer := &Record{Data: append(append([]int64(nil), data...), 0)}
		if fingerprint(longer) == base {
			t.Fatalf("n=%d: a zero appended, same fingerprint", n)
		}
	}
}

func BenchmarkFingerprint(b *testing.B) {
	data := make([]int64, 10000)
	for i := range data {
		data[i] = int64(i) * 99991
	}
	r := &Record{Data: data}
	b.SetBytes(8 * int64(len(data)))
	for b.Loop() {
		fingerprintOf(r)
	}
}

// A sealed record and an unsealed copy of it are the same to a released
// batch's summary, whichever came first: a late copy of either kind is a
// duplicate, and a changed one a conflict.
func TestSealedRecordsAreRecognised(t *testing.T) {
	for _, sealFirst := range []bool{true, false} {
		a := New(Config{Segments: 2, Partitions: 2, Whole: true})
		a.Assign(0, Start{Next: 0})
		a.Assign(1, Start{Next: 0})
		recs := []*Record{
			{Partition: 0, Offset: 0, BatchID: 0, SegmentID: 0, Last: true, Data: []int64{1, 2, 3}},
			{Partition: 1, Offset: 0, BatchID: 0, SegmentID: 1, Last: true, Data: []int64{2, 9}},
		}
		for _, r := range recs {
			cp := *r
			if sealFirst {
				cp.Seal()
			}
			if v, err := a.Add(&cp); v != Accepted {
				t.Fatalf("add %+v: %v %v", cp, v, err)
			}
			a.Position(r.Partition, 1, true)
		}
		b := a.Next()
		if b == nil || !b.Complete() {
			t.Fatalf("batch 0 not released whole: %+v", b)
		}
		a.Merged(b)
		a.Done(b)
		for _, r := range recs {
			late := *r
			if !sealFirst {
				late.Seal()
			}
			if v, err := a.Add(&late); v != Duplicate {
				t.Errorf("sealed first %v: late copy of segment %d: %v %v, want Duplicate", sealFirst, r.SegmentID, v, err)
			}
			changed := *r
			changed.Data = append([]int64{0}, r.Data...)
			if !sealFirst {
				changed.Seal()
			}
			if v, _ := a.Add(&changed); v != Rejected {
				t.Errorf("sealed first %v: changed copy of segment %d: %v, want Rejected", sealFirst, r.SegmentID, v)
			}
		}
	}
}
