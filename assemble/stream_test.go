package assemble

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// streamAll takes every chunk of streaming batch b that has arrived, as a
// merge would, appending each segment's data to got[s]. It reports whether
// every segment is done.
func streamAll(a *Assembler, b *Batch, got [][]int64) bool {
	done := true
	for s := range b.Segments {
		for {
			d, st := a.Take(b, s)
			if st == Taken {
				got[s] = append(got[s], d...)
				continue
			}
			if st == NotYet {
				done = false
			}
			break
		}
	}
	return done
}

// TestRandomStreaming releases every batch as soon as each segment has its
// first chunk and takes chunks as they arrive, over random layouts, chunk
// sizes and fetch interleavings. Each batch must come out whole and exact,
// in order; while one streams, commits stay below its records; a batch with
// a segment never written must be found Broken naming it.
func TestRandomStreaming(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 7))
	streamed, broken := 0, 0
	for iter := range 300 {
		P := 1 + r.IntN(6)
		S := 1 + r.IntN(8)
		batchLayout := r.IntN(2) == 0
		drop := 0.0
		if r.IntN(4) == 0 {
			drop = 0.3
		}
		specs := randBatches(r, 1+r.IntN(15), S, drop)
		last := specs[len(specs)-1].id
		for k := range P + 2 {
			tail := randBatches(r, 1, S, 0)[0]
			tail.id = last + 1 + int64(k)
			specs = append(specs, tail)
		}
		w := layout(P, batchLayout, specs, 1+r.IntN(3))
		lost := loseChunk(r, w, last)
		copy(w.written, lens(w.parts))
		a := New(Config{Segments: int64(S), Partitions: int32(P), StreamAbove: 1})
		for p := range P {
			a.Assign(int32(p), Start{Next: 0, CaughtUp: len(w.parts[p]) == 0})
		}
		spec := map[int64]batchSpec{}
		for _, s := range specs {
			spec[s.id] = s
		}
		// Each batch's first offset in each partition, from the input
		// itself (not from the Assembler's own bookkeeping).
		first := map[int64]map[int32]int64{}
		for _, recs := range w.parts {
			for _, rec := range recs {
				m := first[rec.BatchID]
				if m == nil {
					m = map[int32]int64{}
					first[rec.BatchID] = m
				}
				if o, ok := m[rec.Partition]; !ok || rec.Offset < o {
					m[rec.Partition] = rec.Offset
				}
			}
		}
		var (
			cur  *Batch
			got  [][]int64
			ids  []int64
			stop bool
		)
		for step := 0; step < 100000 && !stop; step++ {
			p := r.IntN(P)
			for range min(r.IntN(4), w.written[p]-w.read[p]) {
				rec := *w.parts[p][w.read[p]]
				w.read[p]++
				if v, err := a.Add(&rec); v != Accepted {
					t.Fatalf("iter %d step %d: %+v: %v %v", iter, step, rec, v, err)
				}
			}
			a.Position(int32(p), int64(w.read[p]), w.read[p] == w.written[p])
			for {
				if cur == nil {
					if cur = a.Next(); cur == nil {
						break
					}
					ids = append(ids, cur.ID)
					got = make([][]int64, cur.Segments)
					if !cur.Complete() && !cur.Streaming {
						// dropped: final before it could stream
						if want := missingOf(spec[cur.ID], lost); !slices.Equal(cur.Missing, want) {
							t.Fatalf("iter %d: batch %d dropped, missing %v", iter, cur.ID, cur.Missing)
						}
						a.Done(cur)
						cur = nil
						continue
					}
				}
				if cur.Streaming {
					streamed++
					for _, c := range a.Commits(nil) {
						if o, ok := first[cur.ID][c.Partition]; ok && c.Offset > o {
							t.Fatalf("iter %d: commit %v passes streaming batch %d's record at offset %d", iter, c, cur.ID, o)
						}
					}
				}
				if !streamAll(a, cur, got) {
					if a.Broken(cur) {
						want := missingOf(spec[cur.ID], lost)
						if len(cur.Missing) == 0 || slices.ContainsFunc(cur.Missing, func(s int64) bool { return !slices.Contains(want, s) }) {
							t.Fatalf("iter %d: batch %d broken, missing %v; want some of %v", iter, cur.ID, cur.Missing, want)
						}
						broken++
						stop = true // the caller would undo and Refuse it
					}
					break
				}
				want := spec[cur.ID]
				for s := range got {
					if !slices.Equal(got[s], want.segs[s]) && (len(got[s]) > 0 || len(want.segs[s]) > 0) {
						t.Fatalf("iter %d: batch %d segment %d = %v, want %v", iter, cur.ID, s, got[s], want.segs[s])
					}
				}
				a.Done(cur)
				cur = nil
			}
			if slices.Equal(w.read, w.written) && cur == nil && a.Pending() == 0 {
				break
			}
		}
		if !slices.IsSorted(ids) {
			t.Fatalf("iter %d: released out of order: %v", iter, ids)
		}
		if !stop && a.HeldBytes() != 0 && a.Pending() == 0 && cur == nil {
			t.Fatalf("iter %d: %d bytes held with nothing pending", iter, a.HeldBytes())
		}
	}
	t.Logf("streaming steps %d, broken batches found %d", streamed, broken)
	if streamed == 0 || broken == 0 {
		t.Fatal("no batch streamed or none broke: the test exercised too little")
	}
}

// TestStreamingChecks covers what Add and Take do around a streaming batch:
// a re-read of a taken chunk is a duplicate, a changed one a conflict, a
// chunk below what was merged is unsorted, a gap is broken, and Refuse turns
// the batch's records away.
func TestStreamingChecks(t *testing.T) {
	chunk := func(p int32, off, seg, c int64, last bool, data ...int64) *Record {
		return &Record{Partition: p, Offset: off, BatchID: 1, SegmentID: seg, Segments: 2, Chunk: c, Last: last, Data: data}
	}
	a := New(Config{Segments: 2, Partitions: 2, StreamAbove: 1})
	a.Assign(0, Start{Next: 0})
	a.Assign(1, Start{Next: 0})
	mustAdd := func(r *Record, want Verdict, reason string) {
		t.Helper()
		v, err := a.Add(r)
		if v != want {
			t.Fatalf("Add %+v = %v %v, want %v", r, v, err, want)
		}
		var rej *Reject
		if reason != "" && (!errors.As(err, &rej) || rej.Reason != reason) {
			t.Fatalf("Add %+v: err %v, want reason %s", r, err, reason)
		}
	}
	mustAdd(chunk(0, 0, 0, 0, false, 1, 2), Accepted, "")
	if b := a.Next(); b != nil {
		t.Fatalf("released %d before segment 1 has a chunk", b.ID)
	}
	mustAdd(chunk(1, 0, 1, 0, false, 5), Accepted, "")
	b := a.Next()
	if b == nil || !b.Streaming {
		t.Fatalf("Next = %+v, want a streaming batch", b)
	}
	if d, st := a.Take(b, 0); st != Taken || !slices.Equal(d, []int64{1, 2}) {
		t.Fatalf("Take 0 = %v %v", d, st)
	}
	if _, st := a.Take(b, 0); st != NotYet {
		t.Fatalf("Take 0 again = %v, want NotYet", st)
	}
	mustAdd(chunk(0, 0, 0, 0, false, 1, 2), Duplicate, "")
	mustAdd(chunk(0, 0, 0, 0, false, 1, 3), Rejected, ReasonConflict)
	mustAdd(chunk(0, 1, 0, 1, false, 0), Rejected, ReasonUnsorted)
	if a.Broken(b) {
		t.Fatal("broken before any gap")
	}
	mustAdd(chunk(0, 2, 0, 2, true, 9), Accepted, "") // chunk 1 skipped
	if !a.Broken(b) || !slices.Equal(b.Missing, []int64{0}) {
		t.Fatalf("Broken = false or Missing %v, want a gap in segment 0", b.Missing)
	}
	if c := a.Commits(nil); c[0].Offset != 0 || c[1].Offset != 0 {
		t.Fatalf("commits %v pass the streaming batch", c)
	}
	// The caller undoes the batch and starts over, refusing it.
	a = New(Config{Segments: 2, Partitions: 2, StreamAbove: 1})
	a.Assign(0, Start{Next: 0})
	a.Refuse(1, "batch 1 lost chunk 1 of segment 0")
	mustAdd(chunk(0, 0, 0, 0, false, 1, 2), Rejected, ReasonIncomplete)
}

// TestWanted checks which partitions a caller short of memory keeps
// fetching: those that can complete the lowest batch.
func TestWanted(t *testing.T) {
	a := New(Config{Segments: 3, Partitions: 3, StreamAbove: 1})
	for p := range int32(3) {
		a.Assign(p, Start{Next: 0})
	}
	seg := func(p int32, off, b, s, c int64, last bool) *Record {
		return &Record{Partition: p, Offset: off, BatchID: b, SegmentID: s, Chunk: c, Last: last, Data: []int64{s}}
	}
	a.Add(seg(0, 0, 4, 0, 0, true))
	if got := a.Wanted(nil, nil); !slices.Equal(sorted(got), []int32{1, 2}) {
		t.Fatalf("pending batch wants %v, want [1 2]", got)
	}
	a.Add(seg(1, 0, 4, 1, 0, false))
	a.Add(seg(2, 0, 4, 2, 0, false))
	b := a.Next()
	if b == nil || !b.Streaming {
		t.Fatal("batch 4 did not stream")
	}
	streamAll(a, b, make([][]int64, 3))
	if got := a.Wanted(nil, b); !slices.Equal(sorted(got), []int32{1, 2}) {
		t.Fatalf("streaming batch wants %v, want [1 2]", got)
	}
	a.Add(seg(2, 1, 4, 2, 1, true))
	if got := a.Wanted(nil, b); !slices.Equal(got, []int32{1}) {
		t.Fatalf("with segment 2's next chunk held, wants %v, want [1]", got)
	}
	streamAll(a, b, make([][]int64, 3))
	if got := a.Wanted(nil, b); !slices.Equal(got, []int32{1}) {
		t.Fatalf("after segment 2 ends, wants %v, want [1]", got)
	}
}

// loseChunk removes, half the time, one chunk after the first of a batch up
// to id last from the world (renumbering offsets) and returns its (batch,
// segment); else (-1, -1).
func loseChunk(r *rand.Rand, w *world, last int64) [2]int64 {
	if r.IntN(2) == 0 {
		return [2]int64{-1, -1}
	}
	for range 20 {
		p := r.IntN(len(w.parts))
		if len(w.parts[p]) == 0 {
			continue
		}
		i := r.IntN(len(w.parts[p]))
		rec := w.parts[p][i]
		if rec.Chunk == 0 || rec.BatchID > last {
			continue
		}
		w.parts[p] = slices.Delete(w.parts[p], i, i+1)
		for j, rr := range w.parts[p] {
			rr.Offset = int64(j)
		}
		return [2]int64{rec.BatchID, rec.SegmentID}
	}
	return [2]int64{-1, -1}
}

// missingOf is the segments of b never written or with a lost chunk.
func missingOf(b batchSpec, lost [2]int64) []int64 {
	var m []int64
	for s, d := range b.segs {
		if d == nil || lost == [2]int64{b.id, int64(s)} {
			m = append(m, int64(s))
		}
	}
	return m
}

func sorted(s []int32) []int32 { slices.Sort(s); return s }

// A batch released whole leaves PendingBytes at once, though HeldBytes
// counts it until Merged: records waiting on the caller's merge neither
// make the next batch stream nor are pending.
func TestReleasedWholeIsNotPending(t *testing.T) {
	rec := func(p int32, off, batch, seg int64, last bool, size int) *Record {
		return &Record{Partition: p, Offset: off, BatchID: batch, SegmentID: seg, Segments: 2, Last: last, Data: []int64{1}, Size: size}
	}
	a := New(Config{Segments: 2, Partitions: 2, StreamAbove: 3000})
	a.Assign(0, Start{Next: 0})
	a.Assign(1, Start{Next: 0})
	// Batch 0 whole and large; batch 1 small, each segment's first chunk
	// in: ready to stream, not complete.
	for _, r := range []*Record{rec(0, 0, 0, 0, true, 5000), rec(1, 0, 0, 1, true, 5000),
		rec(0, 1, 1, 0, false, 100), rec(1, 1, 1, 1, false, 100)} {
		if v, err := a.Add(r); v != Accepted {
			t.Fatalf("Add: %v %v", v, err)
		}
	}
	b := a.Next()
	if b == nil || b.ID != 0 || b.Streaming || b.Bytes() != 10000 {
		t.Fatalf("Next = %+v, want batch 0 whole, of 10000 bytes", b)
	}
	if got := a.HeldBytes() - a.PendingBytes(); got != 10000 {
		t.Fatalf("held %d, pending %d: want batch 0's 10000 bytes held and not pending", a.HeldBytes(), a.PendingBytes())
	}
	// 10000 bytes held pass StreamAbove, but they are released: batch 1
	// waits for its chunks instead of streaming.
	if nb := a.Next(); nb != nil {
		t.Fatalf("Next = batch %d (streaming %v), want none: what is pending is under StreamAbove", nb.ID, nb.Streaming)
	}
	a.Merged(b)
	if a.HeldBytes() != a.PendingBytes() {
		t.Fatalf("after batch 0 merged: held %d, pending %d; want equal", a.HeldBytes(), a.PendingBytes())
	}
	a.Done(b)
	if a.HeldBytes() != a.PendingBytes() || a.PendingBytes() < 200 {
		t.Fatalf("after batch 0 done: held %d, pending %d; want batch 1's records and bookkeeping", a.HeldBytes(), a.PendingBytes())
	}
}
