package assemble

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: time)")

func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

// world is a model topic: per partition, the records in log order, with a
// write position (what the producer has written so far) and a read position.
type world struct {
	parts   [][]*Record
	written []int // records visible per partition
	read    []int
}

type batchSpec struct {
	id   int64
	segs [][]int64 // nil segment: never written
}

// layout places the records of batches onto P partitions, chunking segments
// into at most chunk integers (0: whole).
func layout(P int, batchLayout bool, batches []batchSpec, chunk int) *world {
	w := &world{parts: make([][]*Record, P), written: make([]int, P), read: make([]int, P)}
	for _, b := range batches {
		for s, data := range b.segs {
			if data == nil {
				continue
			}
			p := s % P
			if batchLayout {
				p = int(b.id) % P
			}
			pieces := [][]int64{data}
			if chunk > 0 && len(data) > chunk {
				pieces = nil
				for len(data) > chunk {
					pieces = append(pieces, data[:chunk])
					data = data[chunk:]
				}
				pieces = append(pieces, data)
			}
			for c, d := range pieces {
				w.parts[p] = append(w.parts[p], &Record{
					Partition: int32(p), Offset: int64(len(w.parts[p])),
					BatchID: b.id, SegmentID: int64(s), Segments: int64(len(b.segs)),
					Chunk: int64(c), Last: c == len(pieces)-1, Data: d,
				})
			}
		}
	}
	return w
}

func randBatches(r *rand.Rand, n, segs int, dropProb float64) []batchSpec {
	var out []batchSpec
	id := int64(r.IntN(5))
	for range n {
		b := batchSpec{id: id, segs: make([][]int64, segs)}
		for s := range b.segs {
			d := make([]int64, r.IntN(6))
			for i := range d {
				d[i] = r.Int64N(10)
			}
			slices.Sort(d)
			b.segs[s] = d
		}
		if r.Float64() < dropProb {
			b.segs[r.IntN(segs)] = nil
		}
		out = append(out, b)
		id += 1 + int64(r.IntN(2)) // ids may skip
	}
	return out
}

// drive delivers the world's written records to the assembler in random
// fetch-sized pieces per partition, releasing batches as it goes, and checks
// the invariants on every step. It returns the released batches.
func drive(t *testing.T, r *rand.Rand, a *Assembler, w *world, live func()) []*Batch {
	t.Helper()
	var out []*Batch
	for step := 0; step < 1_000_000; step++ {
		if live != nil {
			live()
		}
		// fetch: a random partition, a random number of records
		p := r.IntN(len(w.parts))
		n := min(r.IntN(4), w.written[p]-w.read[p])
		for range n {
			rec := w.parts[p][w.read[p]]
			w.read[p]++
			cp := *rec
			if v, err := a.Add(&cp); v != Accepted {
				t.Fatalf("step %d: %+v: verdict %v %v", step, rec, v, err)
			}
		}
		a.Position(int32(p), int64(w.read[p]), w.read[p] == w.written[p])
		for b := a.Next(); b != nil; b = a.Next() {
			if testing.Verbose() {
				t.Logf("release %d complete=%v parts=%v", b.ID, b.Complete(), a.debugParts())
			}
			out = append(out, b)
			// Commit offsets never pass a record of this batch
			// before Done.
			for _, c := range a.Commits(nil) {
				for _, rec := range b.Records() {
					if rec.Partition == c.Partition && rec.Offset < c.Offset {
						t.Fatalf("commit %v passes p%d@%d of unwritten batch %d", c, rec.Partition, rec.Offset, b.ID)
					}
				}
			}
			a.Done(b)
		}
		done := true
		for q := range w.parts {
			if w.read[q] < len(w.parts[q]) {
				done = false
			}
		}
		if done && live == nil {
			break
		}
		if done && a.Pending() == 0 {
			break
		}
	}
	return out
}

func mergeModel(segs [][]int64) []int64 {
	var all []int64
	for _, s := range segs {
		all = append(all, s...)
	}
	slices.Sort(all)
	return all
}

func flatten(b *Batch) []int64 {
	var all []int64
	for s := range b.Segments {
		for _, c := range b.Chunks(s, nil) {
			all = append(all, c...)
		}
	}
	slices.Sort(all)
	return all
}

// TestRandomInterleavings checks, over random layouts, chunkings and fetch
// interleavings, that every complete batch is released once, in ascending
// order, with its exact data; that a batch with a segment never written is
// dropped naming it; and that the final commit offsets cover every record.
func TestRandomInterleavings(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 1))
	for iter := range 300 {
		P := 1 + r.IntN(12)
		S := 1 + r.IntN(12)
		batchLayout := r.IntN(2) == 0
		drop := 0.0
		if r.IntN(3) == 0 {
			drop = 0.2
		}
		specs := randBatches(r, 1+r.IntN(40), S, drop)
		// A batch with a missing segment is only final once the
		// partitions move past it: end with two whole batches.
		last := specs[len(specs)-1].id
		for k := range 2 {
			tail := randBatches(r, 1, S, 0)[0]
			tail.id = last + 1 + int64(k)
			specs = append(specs, tail)
		}
		if batchLayout {
			// every partition must move past a broken batch
			for k := range P {
				tail := randBatches(r, 1, S, 0)[0]
				tail.id = last + 3 + int64(k)
				specs = append(specs, tail)
			}
		}
		w := layout(P, batchLayout, specs, r.IntN(4))
		copy(w.written, lens(w.parts))
		a := New(Config{Segments: int64(S), Partitions: int32(P)})
		for p := range P {
			a.Assign(int32(p), Start{Next: 0, CaughtUp: len(w.parts[p]) == 0})
		}
		out := drive(t, r, a, w, nil)

		var wantIDs, gotIDs []int64
		got := map[int64]*Batch{}
		for _, b := range out {
			gotIDs = append(gotIDs, b.ID)
			got[b.ID] = b
		}
		for _, s := range specs {
			if slices.ContainsFunc(s.segs, func(d []int64) bool { return d != nil }) {
				wantIDs = append(wantIDs, s.id) // a batch with no record does not exist
			}
		}
		if !slices.Equal(gotIDs[:min(len(gotIDs), len(wantIDs))], wantIDs[:min(len(gotIDs), len(wantIDs))]) || !slices.IsSorted(gotIDs) {
			t.Fatalf("iter %d (P=%d S=%d batchLayout=%v): released %v, want prefix of %v", iter, P, S, batchLayout, gotIDs, wantIDs)
		}
		for _, s := range specs {
			b := got[s.id]
			broken := slices.ContainsFunc(s.segs, func(d []int64) bool { return d == nil })
			if b == nil && !slices.Contains(wantIDs, s.id) {
				continue
			}
			if b == nil {
				// Only the tail may stay pending (not yet final).
				if !broken && s.id < last {
					t.Fatalf("iter %d: batch %d never released", iter, s.id)
				}
				continue
			}
			if broken {
				if b.Complete() || len(b.Missing) != 1 || s.segs[b.Missing[0]] != nil {
					t.Fatalf("iter %d: broken batch %d released complete=%v missing=%v", iter, s.id, b.Complete(), b.Missing)
				}
				continue
			}
			if !b.Complete() || !slices.Equal(flatten(b), mergeModel(s.segs)) {
				t.Fatalf("iter %d: batch %d data %v want %v", iter, s.id, flatten(b), mergeModel(s.segs))
			}
		}
		if a.Pending() == 0 {
			for _, c := range a.Commits(nil) {
				if c.Offset != int64(len(w.parts[c.Partition])) {
					t.Fatalf("iter %d: final commit %v, partition has %d records", iter, c, len(w.parts[c.Partition]))
				}
			}
		}
		if a.Held() != 0 && a.Pending() == 0 {
			t.Fatalf("iter %d: %d integers held with nothing pending", iter, a.Held())
		}
	}
}

func lens(parts [][]*Record) []int {
	var n []int
	for _, p := range parts {
		n = append(n, len(p))
	}
	return n
}

// TestLiveProducer writes batches while the assembler reads, so partitions
// are often caught up with more to come: in the segment layout, releases stay
// complete and strictly ascending.
func TestLiveProducer(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 2))
	for iter := range 100 {
		P := 1 + r.IntN(10)
		S := P + r.IntN(3)
		specs := randBatches(r, 30, S, 0)
		w := layout(P, false, specs, r.IntN(3))
		a := New(Config{Segments: int64(S), Partitions: int32(P)})
		for p := range P {
			a.Assign(int32(p), Start{Next: 0, CaughtUp: true})
		}
		live := func() { // the producer writes a few records somewhere
			for range r.IntN(3) {
				p := r.IntN(P)
				if w.written[p] < len(w.parts[p]) {
					w.written[p]++
				}
			}
		}
		out := drive(t, r, a, w, live)
		if len(out) != len(specs) {
			t.Fatalf("iter %d: released %d of %d", iter, len(out), len(specs))
		}
		for i, b := range out {
			if b.ID != specs[i].id || !b.Complete() {
				t.Fatalf("iter %d: release %d is batch %d complete=%v, want %d", iter, i, b.ID, b.Complete(), specs[i].id)
			}
		}
		if a.Late() != 0 {
			t.Fatalf("iter %d: %d late releases in the segment layout", iter, a.Late())
		}
	}
}

func rec(p int32, off, batch, seg int64, data ...int64) *Record {
	return &Record{Partition: p, Offset: off, BatchID: batch, SegmentID: seg, Last: true, Data: data}
}

func TestRefusals(t *testing.T) {
	type step struct {
		r      *Record
		want   Verdict
		reason string
	}
	chunk := func(r *Record, c int64, last bool) *Record { r.Chunk, r.Last = c, last; return r }
	segs := func(r *Record, n int64) *Record { r.Segments = n; return r }
	tests := []struct {
		name  string
		steps []step
	}{
		{"segment outside batch", []step{{rec(0, 0, 1, 2), Rejected, ReasonSegment}}},
		{"segment outside explicit count", []step{{segs(rec(0, 0, 1, 1), 1), Rejected, ReasonSegment}}},
		{"a billion segments", []step{{segs(rec(0, 0, 1, 1), 1e9), Rejected, ReasonTooMany}}},
		{"chunk 2^40", []step{{chunk(rec(0, 0, 1, 0, 1), 1<<40, true), Rejected, ReasonChunks}}},
		{"the last chunk index allowed", []step{{chunk(rec(0, 0, 1, 0, 1), MaxChunks-1, true), Accepted, ""}}},
		{"segment count conflicts", []step{
			{rec(0, 0, 1, 0, 1), Accepted, ""},
			{segs(rec(1, 0, 1, 1, 1), 3), Rejected, ReasonSegments},
		}},
		{"identical duplicate dropped", []step{
			{rec(0, 0, 1, 0, 1, 2), Accepted, ""},
			{rec(0, 1, 1, 0, 1, 2), Duplicate, ""},
		}},
		{"conflicting duplicate", []step{
			{rec(0, 0, 1, 0, 1, 2), Accepted, ""},
			{rec(0, 1, 1, 0, 1, 3), Rejected, ReasonConflict},
		}},
		{"backwards in partition", []step{
			{rec(0, 0, 5, 0), Accepted, ""},
			{rec(0, 1, 4, 0), Rejected, ReasonBackwards},
		}},
		{"chunk after last", []step{
			{chunk(rec(0, 0, 1, 0, 1), 1, true), Accepted, ""},
			{chunk(rec(0, 1, 1, 0, 5), 2, false), Rejected, ReasonChunk},
		}},
		{"last chunk before a held one", []step{
			{chunk(rec(0, 0, 1, 0, 5), 2, false), Accepted, ""},
			{chunk(rec(0, 1, 1, 0, 1), 1, true), Rejected, ReasonChunk},
		}},
		{"chunks not ascending", []step{
			{chunk(rec(0, 0, 1, 0, 5, 9), 0, false), Accepted, ""},
			{chunk(rec(0, 1, 1, 0, 3, 4), 1, true), Rejected, ReasonUnsorted},
		}},
		{"chunks ascending across an empty one", []step{
			{chunk(rec(0, 0, 1, 0, 5), 0, false), Accepted, ""},
			{chunk(rec(0, 1, 1, 0), 1, false), Accepted, ""},
			{chunk(rec(0, 2, 1, 0, 4), 2, true), Rejected, ReasonUnsorted},
		}},
		{"unassigned partition", []step{{rec(9, 0, 1, 0), Rejected, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Config{Segments: 2, Partitions: 2})
			a.Assign(0, Start{Next: 0, CaughtUp: false})
			a.Assign(1, Start{Next: 0, CaughtUp: false})
			for i, s := range tt.steps {
				v, err := a.Add(s.r)
				if v != s.want {
					t.Fatalf("step %d: verdict %v (%v), want %v", i, v, err, s.want)
				}
				var rej *Reject
				if (v == Rejected) != errors.As(err, &rej) {
					t.Fatalf("step %d: verdict %v with error %v", i, v, err)
				}
				if rej != nil && rej.Reason != s.reason {
					t.Fatalf("step %d: reason %q (%v), want %q", i, rej.Reason, err, s.reason)
				}
			}
		})
	}
}

// After a batch is released, a retry of one of its records is a duplicate
// and a different record for it is late; neither moves progress.
func TestReleasedBatchCopies(t *testing.T) {
	a := New(Config{Segments: 2, Partitions: 2})
	a.Assign(0, Start{Next: 0, CaughtUp: true})
	a.Assign(1, Start{Next: 0, CaughtUp: true})
	a.Add(rec(0, 0, 1, 0, 1))
	a.Add(rec(1, 0, 1, 1, 2))
	b := a.Next()
	if b == nil || !b.Complete() {
		t.Fatalf("batch not released: %v", b)
	}
	if v, _ := a.Add(rec(0, 1, 1, 0, 1)); v != Duplicate {
		t.Fatalf("retry while in flight: %v", v)
	}
	a.Done(b)
	if v, _ := a.Add(rec(0, 2, 1, 0, 1)); v != Duplicate {
		t.Fatalf("retry after done: %v", v)
	}
	if v, err := a.Add(rec(1, 1, 1, 1, 7)); v != Rejected || err.(*Reject).Reason != ReasonLate {
		t.Fatalf("different record after done: %v %v", v, err)
	}
	if got := a.Commits(nil); !slices.Equal(got, []Offset{{0, 3}, {1, 2}}) {
		t.Fatalf("commits %v", got)
	}
}

// A slow partition holds back later complete batches (order), and commits
// stay below the first held record.
func TestSlowPartitionHoldsOrder(t *testing.T) {
	a := New(Config{Segments: 2, Partitions: 2})
	a.Assign(0, Start{Next: 0, CaughtUp: false})
	a.Assign(1, Start{Next: 0, CaughtUp: false})
	a.Add(rec(0, 0, 1, 0))
	a.Add(rec(0, 1, 2, 0))
	a.Position(0, 2, true)
	if b := a.Next(); b != nil {
		t.Fatalf("released %d with partition 1 unread", b.ID)
	}
	if got := a.Commits(nil); !slices.Equal(got, []Offset{{0, 0}, {1, 0}}) {
		t.Fatalf("commits %v", got)
	}
	a.Add(rec(1, 0, 1, 1))
	a.Position(1, 1, false)
	b := a.Next()
	if b == nil || b.ID != 1 {
		t.Fatalf("want batch 1, got %v", b)
	}
	if n := a.Next(); n != nil {
		t.Fatalf("batch 2 released before partition 1 reached it")
	}
	a.Done(b)
	if got := a.Commits(nil); !slices.Equal(got, []Offset{{0, 1}, {1, 1}}) {
		t.Fatalf("commits %v", got)
	}
}

// Revoking a partition forgets its records; re-reading them from the commit
// offset completes the batch again.
func TestRevokeAndReread(t *testing.T) {
	a := New(Config{Segments: 2, Partitions: 2})
	a.Assign(0, Start{Next: 0, CaughtUp: false})
	a.Assign(1, Start{Next: 0, CaughtUp: false})
	a.Add(rec(0, 0, 1, 0, 1))
	a.Add(rec(1, 0, 1, 1, 2))
	a.Revoke(1)
	if a.Held() != 1 {
		t.Fatalf("held %d after revoke", a.Held())
	}
	a.Assign(1, Start{Next: 0, CaughtUp: false})
	if v, err := a.Add(rec(1, 0, 1, 1, 2)); v != Accepted {
		t.Fatalf("re-read after revoke: %v %v", v, err)
	}
	a.Position(0, 1, true)
	a.Position(1, 1, true)
	if b := a.Next(); b == nil || !b.Complete() {
		t.Fatalf("batch not complete after re-read")
	}
}

// With Whole set, a partition missing from the assignment (a rebalance in
// flight) holds releases back; without it, only assigned partitions count.
func TestWholeWaitsForUnassigned(t *testing.T) {
	for _, whole := range []bool{true, false} {
		a := New(Config{Segments: 1, Partitions: 2, Whole: whole})
		a.Assign(1, Start{Next: 0, CaughtUp: false})
		a.Add(rec(1, 0, 1, 0, 5))
		a.Position(1, 1, true)
		if got := a.Next() != nil; got == whole {
			t.Fatalf("Whole=%v: released=%v with partition 0 unassigned", whole, got)
		}
	}
}

// A consumer that starts at the end of a live topic may catch the tail of
// a batch: its missing segments lie before the start, so it is Cut, not a
// producer's broken batch. A broken batch after the start is not Cut.
func TestCutAtStart(t *testing.T) {
	a := New(Config{Segments: 2, Partitions: 2})
	a.Assign(0, Start{Next: 10, Fresh: true})
	a.Assign(1, Start{Next: 10, Fresh: true})
	a.Add(rec(1, 10, 4, 1, 9)) // batch 4's segment 0 was on p0 before offset 10
	a.Add(rec(0, 10, 5, 0, 1))
	a.Add(rec(1, 11, 5, 1, 2))
	a.Add(rec(0, 11, 6, 0, 1)) // batch 6 never gets segment 1: broken
	a.Add(rec(0, 12, 7, 0, 1))
	a.Add(rec(1, 12, 7, 1, 2))
	a.Position(0, 13, true)
	a.Position(1, 13, true)
	var got []string
	for b := a.Next(); b != nil; b = a.Next() {
		got = append(got, fmt.Sprintf("%d:%v/%v", b.ID, b.Complete(), b.Cut))
		a.Done(b)
	}
	if want := []string{"4:false/true", "5:true/false", "6:false/false", "7:true/false"}; !slices.Equal(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	// Started at a group commit, the same tail is the producer's fault.
	a = New(Config{Segments: 2, Partitions: 2})
	a.Assign(0, Start{Next: 10})
	a.Assign(1, Start{Next: 10})
	a.Add(rec(1, 10, 4, 1, 9))
	a.Add(rec(0, 10, 5, 0, 1))
	a.Add(rec(1, 11, 5, 1, 2))
	a.Position(0, 11, true)
	a.Position(1, 12, true)
	if b := a.Next(); b == nil || b.ID != 4 || b.Cut {
		t.Fatalf("batch 4 after a commit: %+v", b)
	}
}

// With a Timeout, a batch whose missing segment's partition never moves on
// becomes final once the time has passed, and not before.
func TestTimeout(t *testing.T) {
	now := time.Unix(1000, 0)
	a := New(Config{Segments: 2, Partitions: 2, Timeout: time.Minute, Now: func() time.Time { return now }})
	a.Assign(0, Start{Next: 0, CaughtUp: true})
	a.Assign(1, Start{Next: 0, CaughtUp: true})
	a.Add(rec(0, 0, 7, 0, 1))
	a.Position(0, 1, true)
	now = now.Add(59 * time.Second)
	if b := a.Next(); b != nil {
		t.Fatalf("released before the timeout: %+v", b)
	}
	now = now.Add(time.Second)
	b := a.Next()
	if b == nil || b.Complete() || !b.TimedOut || !slices.Equal(b.Missing, []int64{1}) {
		t.Fatalf("after the timeout: %+v", b)
	}
}

// debugParts says each partition's progress and whether it is caught up.
func (a *Assembler) debugParts() string {
	s := ""
	for p, ps := range a.parts {
		s += fmt.Sprintf(" p%d:%d/%v", p, ps.progress, ps.caughtUp)
	}
	return s
}
