package emit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/sink"
)

// recordingSink keeps what it is given, and fails the batch failAt.
type recordingSink struct {
	mu     sync.Mutex
	ids    []int64
	vals   map[int64][]int64
	failAt int64
	cur    int64
}

func (s *recordingSink) Begin(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == s.failAt {
		return errors.New("disk full")
	}
	s.ids = append(s.ids, id)
	s.cur = id
	return nil
}

func (s *recordingSink) Write(v []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vals == nil {
		s.vals = map[int64][]int64{}
	}
	s.vals[s.cur] = append(s.vals[s.cur], v...)
	return nil
}

func (s *recordingSink) End() error                  { return nil }
func (s *recordingSink) Flush(context.Context) error { return nil }
func (s *recordingSink) Close() error                { return nil }

// testBatches assembles n complete batches of 3 segments (ids 0..n-1),
// each segment of a random length up to maxLen, of values in [0, 1000),
// and returns them with the merged values each must give.
func testBatches(t *testing.T, rng *rand.Rand, n, maxLen int) ([]*assemble.Batch, [][]int64) {
	return rangeBatches(t, rng, n, maxLen, 1000)
}

// rangeBatches is testBatches with values in [0, values).
func rangeBatches(t *testing.T, rng *rand.Rand, n, maxLen int, values int64) ([]*assemble.Batch, [][]int64) {
	t.Helper()
	a := assemble.New(assemble.Config{Segments: 3, Partitions: 3, Whole: true})
	for p := range int32(3) {
		a.Assign(p, assemble.Start{Next: 0})
	}
	want := make([][]int64, n)
	off := int64(0)
	for id := range int64(n) {
		for s := range int64(3) {
			data := make([]int64, rng.IntN(maxLen+1))
			for i := range data {
				data[i] = rng.Int64N(values)
			}
			slices.Sort(data)
			want[id] = append(want[id], data...)
			r := &assemble.Record{Partition: int32(s), Offset: off, BatchID: id, SegmentID: s, Last: true, Data: data}
			if v, err := a.Add(r); v != assemble.Accepted {
				t.Fatalf("batch %d segment %d: %v %v", id, s, v, err)
			}
		}
		off++
		slices.Sort(want[id])
	}
	var bs []*assemble.Batch
	for b := a.Next(); b != nil; b = a.Next() {
		bs = append(bs, b)
	}
	if len(bs) != n {
		t.Fatalf("assembled %d batches, want %d", len(bs), n)
	}
	return bs, want
}

// The pipeline writes every batch once, in the order handed over, to a
// sink that takes rendered lines, alone or with one that takes values, the
// same bytes and values as merging each batch by itself; with a bound
// smaller than the batches (so submit blocks), small batches grouped and
// large ones alone, some larger than a merge at once takes (fillMax),
// batches of few distinct values (rendered from their counts when lines
// only are written), in either format; and reap names every batch merged.
func TestPipelineKeepsOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name      string
		n, maxLen int
		max       int
		values    bool
		distinct  int64       // values lie in [0, distinct); 0: 1000
		format    sink.Format // "": JSONL
	}{
		{name: "small batches, grouped", n: 3000, maxLen: 20, max: 1 << 20, values: true},
		{name: "small batches, lines only", n: 3000, maxLen: 20, max: 1 << 20},
		{name: "large batches, tight bound", n: 40, maxLen: 30000, max: 1000, values: true},
		{name: "larger than fillMax, lines only", n: 12, maxLen: 2 * fillMax / 3, max: 1000},
		{name: "larger than fillMax", n: 12, maxLen: 2 * fillMax / 3, max: 1000, values: true},
		{name: "empty segments", n: 200, maxLen: 1, max: 10, values: true},
		{name: "empty segments, lines only", n: 200, maxLen: 1, max: 10},
		{name: "few distinct values", n: 2000, maxLen: 20, max: 1 << 20, values: true, distinct: 12},
		{name: "few distinct values, lines only", n: 2000, maxLen: 20, max: 1 << 20, distinct: 12},
		{name: "few distinct values, text", n: 2000, maxLen: 20, max: 1 << 20, distinct: 12, format: sink.Text},
		{name: "large batches of few values, lines only", n: 20, maxLen: 30000, max: 1000, distinct: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			format := cmp.Or(tc.format, sink.JSONL)
			bs, want := rangeBatches(t, rng, tc.n, tc.maxLen, cmp.Or(tc.distinct, 1000))
			var file bytes.Buffer
			lines := sink.NewWriter(&file, format, false)
			vals := &recordingSink{failAt: -1}
			var to sink.Sink = lines
			if tc.values {
				to = sink.Multi{lines, vals}
			}
			p := NewPipeline(to, tc.max, nil)
			for len(bs) > 0 { // handed over in pieces, as polls release them
				k := min(len(bs), 1+rng.IntN(50))
				if err := p.Submit(bs[:k], nil); err != nil {
					t.Fatal(err)
				}
				bs = bs[k:]
				// The bound: past max, only one group (larger than
				// max on its own) is queued.
				p.mu.Lock()
				queued, groups := p.queued, len(p.queue)
				p.mu.Unlock()
				if queued > tc.max && groups > 1 {
					t.Fatalf("%d bytes queued in %d groups, bound %d", queued, groups, tc.max)
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			lines.Flush(context.Background())
			var expect []byte
			for id, w := range want {
				expect = format.AppendEnd(format.AppendValues(format.AppendStart(expect, int64(id)), w, true))
				if got := vals.vals[int64(id)]; tc.values && !slices.Equal(got, w) && len(got)+len(w) > 0 {
					t.Fatalf("batch %d: values %v, want %v", id, got, w)
				}
			}
			if !bytes.Equal(file.Bytes(), expect) {
				t.Fatalf("lines differ from the batches merged one by one (%d bytes, want %d)", file.Len(), len(expect))
			}
			if tc.values && (len(vals.ids) != tc.n || !slices.IsSorted(vals.ids)) {
				t.Fatalf("values sink got %d batches (sorted %v), want %d in order", len(vals.ids), slices.IsSorted(vals.ids), tc.n)
			}
			if got := len(p.Reap(nil)); got != tc.n {
				t.Fatalf("reaped %d batches, want %d", got, tc.n)
			}
		})
	}
}

// A failed write is returned by the next drain and submit, and nothing
// after it is written: a commit never passes it.
func TestPipelineStopsAtAnError(t *testing.T) {
	bs, _ := testBatches(t, rand.New(rand.NewPCG(3, 4)), 10, 5)
	s := &recordingSink{failAt: 5}
	p := NewPipeline(s, 1000, nil)
	if err := p.Submit(bs[:8], nil); err != nil { // one group: the failure comes after
		t.Fatal(err)
	}
	err := p.Drain()
	if err == nil || err.Error() != "write batch 5: disk full" {
		t.Fatalf("drain = %v, want batch 5's failure", err)
	}
	if serr := p.Submit(bs[8:], nil); serr == nil {
		t.Fatal("submit after a failure was taken")
	}
	if cerr := p.Close(); cerr == nil {
		t.Fatal("close forgot the failure")
	}
	if !slices.Equal(s.ids, []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("written %v, want 0..4 only", s.ids)
	}
}

// A pipeline with nothing more to write pushes what its sinks buffer: the
// lines of the batches handed over reach the writer's destination once
// Drain returns, with no Flush, so a reader of the file sees them as they
// are written rather than at the next commit.
func TestPipelinePushesWhenIdle(t *testing.T) {
	bs, _ := testBatches(t, rand.New(rand.NewPCG(3, 4)), 5, 10)
	var file bytes.Buffer
	lines := sink.NewWriter(&file, sink.JSONL, false) // buffers 64 KiB
	p := NewPipeline(lines, 1<<20, nil)
	defer p.Close()
	if err := p.Submit(bs, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Drain(); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(file.Bytes(), []byte("\n")); n != len(bs) {
		t.Fatalf("after Drain the destination holds %d lines of %d batches: the pipeline left them buffered", n, len(bs))
	}
}

// A worker sizes a group's line buffers from its last group with integers,
// within maxRate: a group of empty batches (all heads) or of batches with
// long heads and few values does not make the next group's buffers grow
// beyond what their lines need.
func TestPipelineSizesLinesWithinBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := &Pipeline{formats: []sink.Format{sink.JSONL}, format: []int{0}}
	var d Scratch
	rate := make([]int, 1)
	for _, maxLen := range []int{0, 1, 0, 20, 0, 1, 20} {
		bs, _ := testBatches(t, rng, 2000, maxLen)
		g := &group{bs: bs, lines: make([][]byte, 1), ends: make([][]int, 1)}
		for _, b := range bs {
			g.ints += b.Len()
		}
		if err := p.merge(&d, g, rate); err != nil {
			t.Fatal(err)
		}
		line := g.lines[0]
		if bound := 2*(len(line)+g.ints*maxRate/16+64*len(bs)) + 4096; cap(line) > bound {
			t.Fatalf("segments of up to %d values: a %d-byte line in a buffer of %d (bound %d), rate %d", maxLen, len(line), cap(line), bound, rate[0])
		}
		if rate[0] > maxRate {
			t.Fatalf("rate %d above %d", rate[0], maxRate)
		}
	}
}
