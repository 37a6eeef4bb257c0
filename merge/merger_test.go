package merge

import (
	"errors"
	"io"
	"math"
	"slices"
	"testing"
)

const (
	minI = math.MinInt64
	maxI = math.MaxInt64
)

// TestMergerTable merges small hand-picked inputs, each run given as its
// chunks, with several Read sizes.
func TestMergerTable(t *testing.T) {
	type runs = [][][]int64 // runs[i] is source i's chunks
	tests := []struct {
		name string
		runs runs
		want []int64
	}{
		{"no sources", runs{}, nil},
		{"one source", runs{{{1, 2, 3}}}, []int64{1, 2, 3}},
		{"one source chunked", runs{{{1}, {}, {2, 2}, {3}}}, []int64{1, 2, 2, 3}},
		{"one empty run", runs{{}}, nil},
		{"empty chunks only", runs{{{}, {}, {}}}, nil},
		{"all empty", runs{{}, {{}}, {}, {{}, {}}}, nil},
		{"empty runs among others", runs{{}, {{5}}, {}, {{1, 9}}, {}}, []int64{1, 5, 9}},
		{"one value each", runs{{{3}}, {{1}}, {{2}}, {{0}}, {{4}}}, []int64{0, 1, 2, 3, 4}},
		{"duplicates within and across", runs{{{1, 1, 2}}, {{1, 2, 2}}, {{2}, {2, 2}}}, []int64{1, 1, 1, 2, 2, 2, 2, 2, 2}},
		{"all equal", runs{{{7, 7}}, {{7}}, {{7, 7, 7}}}, []int64{7, 7, 7, 7, 7, 7}},
		{"interleaved", runs{{{1, 4, 7}}, {{2, 5, 8}}, {{3, 6, 9}}}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"disjoint reversed", runs{{{7, 8, 9}}, {{4, 5, 6}}, {{1, 2, 3}}}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"chunk continues at equal value", runs{{{1, 3}, {3, 3}, {3, 4}}, {{2}}}, []int64{1, 2, 3, 3, 3, 3, 4}},
		{"min and max", runs{{{minI, 0, maxI}}, {{minI, maxI}}, {{maxI}}}, []int64{minI, minI, 0, maxI, maxI, maxI}},
		{"max only, others exhaust first", runs{{{maxI}, {maxI}}, {}, {{1}}}, []int64{1, maxI, maxI}},
		{"max after exhausted sources", runs{{{1}}, {{2}}, {{maxI, maxI}}, {{3}}}, []int64{1, 2, 3, maxI, maxI}},
		{"min only", runs{{{minI}}, {{minI}, {minI}}}, []int64{minI, minI, minI}},
		{"k not a power of two", runs{{{5}}, {{3}}, {{6}}, {{1}}, {{4}}, {{2}}, {{0}}}, []int64{0, 1, 2, 3, 4, 5, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sizes := range [][]int{{1}, {2}, {7}, {4096}} {
				srcs := make([]Source, len(tt.runs))
				for i, chunks := range tt.runs {
					srcs[i] = newScript(chunks...)
				}
				got, err := readAll(t, New(srcs...), sizes)
				if err != nil {
					t.Fatalf("reads of %v: %v", sizes, err)
				}
				if !slices.Equal(got, tt.want) {
					t.Fatalf("reads of %v: got %v, want %v", sizes, got, tt.want)
				}
			}
			var flat [][]int64
			for _, chunks := range tt.runs {
				flat = append(flat, slices.Concat(chunks...))
			}
			if got := Merge(nil, flat...); !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Fatalf("Merge: got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMergerErrors covers the error paths: a chunk going backwards, a source
// failing mid-run or before its first chunk, and stickiness.
func TestMergerErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		srcs    func() []*scriptSource
		wantOut []int64
		wantMsg string
		wantIs  error
		wantSrc int
	}{
		{
			name: "chunk goes backwards",
			srcs: func() []*scriptSource {
				return []*scriptSource{
					newScript([]int64{0, 100}), newScript([]int64{1}), newScript([]int64{2}),
					newScript([]int64{3, 9}, []int64{5, 6}),
				}
			},
			wantOut: []int64{0, 1, 2, 3, 9},
			wantMsg: "merge: source 3: chunk starts at 5 after 9: run not ascending",
			wantIs:  ErrUnsorted,
			wantSrc: 3,
		},
		{
			name: "backwards after empty chunks",
			srcs: func() []*scriptSource {
				return []*scriptSource{newScript([]int64{minI, 4}, nil, nil, []int64{minI})}
			},
			wantOut: []int64{minI, 4},
			wantMsg: "merge: source 0: chunk starts at -9223372036854775808 after 4: run not ascending",
			wantIs:  ErrUnsorted,
		},
		{
			name: "source fails mid-run",
			srcs: func() []*scriptSource {
				bad := newScript([]int64{2, 3}, []int64{4, 5})
				bad.err, bad.errAt = boom, 1
				return []*scriptSource{newScript([]int64{1, 10}), newScript([]int64{1}), bad}
			},
			wantOut: []int64{1, 1, 2, 3},
			wantMsg: "merge: source 2: boom",
			wantIs:  boom,
			wantSrc: 2,
		},
		{
			name: "source fails before its first chunk",
			srcs: func() []*scriptSource {
				bad := newScript([]int64{2})
				bad.err, bad.errAt = boom, 0
				return []*scriptSource{newScript([]int64{1}), bad}
			},
			wantMsg: "merge: source 1: boom",
			wantIs:  boom,
			wantSrc: 1,
		},
	}
	for _, tt := range tests {
		for _, size := range []int{1, 3, 4096} {
			t.Run(tt.name, func(t *testing.T) {
				ss := tt.srcs()
				srcs := make([]Source, len(ss))
				for i, s := range ss {
					srcs[i] = s
				}
				m := New(srcs...)
				got, err := readAll(t, m, []int{size})
				if err == nil {
					t.Fatalf("read %v with no error", got)
				}
				if !slices.Equal(got, tt.wantOut) {
					t.Errorf("read %v before the error, want %v", got, tt.wantOut)
				}
				if err.Error() != tt.wantMsg {
					t.Errorf("error %q, want %q", err, tt.wantMsg)
				}
				if !errors.Is(err, tt.wantIs) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
				}
				var se *SourceError
				if !errors.As(err, &se) || se.Source != tt.wantSrc {
					t.Errorf("errors.As: %#v, want source %d", se, tt.wantSrc)
				}
				for range 2 {
					if n, err2 := m.Read(make([]int64, 4)); n != 0 || err2 != err {
						t.Errorf("Read after error = %d, %v; want 0 and the same error", n, err2)
					}
				}
				if m.Err() != err {
					t.Errorf("Err() = %v, want %v", m.Err(), err)
				}
				if cerr := m.Close(); cerr != err {
					t.Errorf("Close() = %v, want %v", cerr, err)
				}
			})
		}
	}
}

// TestMergerClose checks that Close closes each io.Closer source exactly
// once, skips sources that are not Closers, reports the first Close error and
// is idempotent.
func TestMergerClose(t *testing.T) {
	t.Run("closes closers once", func(t *testing.T) {
		a, b := newScript([]int64{1, 2}), newScript([]int64{3})
		m := New(a, SliceSource([]int64{0}), b)
		if _, err := readAll(t, m, []int{2}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		if a.closed != 1 || b.closed != 1 {
			t.Fatalf("closed %d and %d times, want 1 each", a.closed, b.closed)
		}
		if n, err := m.Read(make([]int64, 1)); n != 0 || err != ErrClosed {
			t.Fatalf("Read after Close = %d, %v; want 0, ErrClosed", n, err)
		}
		if m.Err() != nil {
			t.Fatalf("Err after Close = %v", m.Err())
		}
	})
	t.Run("close before read", func(t *testing.T) {
		a := newScript([]int64{1})
		m := New(a)
		if err := m.Close(); err != nil || a.closed != 1 || a.calls != 0 {
			t.Fatalf("Close = %v; closed %d, Next calls %d", err, a.closed, a.calls)
		}
	})
	t.Run("first close error", func(t *testing.T) {
		e1, e2 := errors.New("close 1"), errors.New("close 2")
		a, b, c := newScript(), newScript(), newScript()
		b.cerr, c.cerr = e1, e2
		m := New(a, b, c)
		err := m.Close()
		if !errors.Is(err, e1) || err.Error() != "merge: source 1: close 1" {
			t.Fatalf("Close = %v, want source 1's error", err)
		}
		if err2 := m.Close(); err2 != err {
			t.Fatalf("second Close = %v, want %v", err2, err)
		}
		if a.closed != 1 || b.closed != 1 || c.closed != 1 {
			t.Fatalf("closed %d, %d, %d times, want 1 each", a.closed, b.closed, c.closed)
		}
	})
	t.Run("merge error wins over close error", func(t *testing.T) {
		a := newScript([]int64{5}, []int64{1})
		a.cerr = errors.New("close")
		m := New(a)
		_, err := readAll(t, m, []int{8})
		if cerr := m.Close(); !errors.Is(err, ErrUnsorted) || cerr != err {
			t.Fatalf("read error %v, Close %v; want the same ErrUnsorted", err, cerr)
		}
	})
}

// TestMergerReset reuses one Merger across different k, growing and
// shrinking, including after an error and after Close.
func TestMergerReset(t *testing.T) {
	m := New()
	for _, k := range []int{3, 1, 0, 5, 2, 40, 4, 40} {
		var runs [][]int64
		var srcs []Source
		for i := range k {
			run := []int64{int64(i), int64(i + k), int64(2 * k)}
			runs = append(runs, run)
			srcs = append(srcs, newScript(run[:1], nil, run[1:]))
		}
		m.Reset(srcs...)
		got, err := readAll(t, m, []int{3})
		if err != nil {
			t.Fatalf("k=%d: %v", k, err)
		}
		if want := model(runs); !slices.Equal(got, want) {
			t.Fatalf("k=%d: got %v, want %v", k, got, want)
		}
		// Leave the Merger dirty for the next Reset: failed and closed.
		bad := newScript([]int64{9}, []int64{1})
		m.Reset(bad)
		if _, err := readAll(t, m, []int{1}); !errors.Is(err, ErrUnsorted) {
			t.Fatalf("k=%d: want ErrUnsorted, got %v", k, err)
		}
		m.Close()
	}
}

// TestMergerLazy checks that a source's next chunk is pulled only once its
// current chunk has been taken, and never after io.EOF.
func TestMergerLazy(t *testing.T) {
	a := newScript([]int64{1, 2}, []int64{3, 4})
	b := newScript([]int64{10}, []int64{20})
	m := New(a, b)
	if a.calls != 0 || b.calls != 0 {
		t.Fatalf("New called Next: %d, %d", a.calls, b.calls)
	}
	buf := make([]int64, 1)
	steps := []struct {
		want         int64
		callA, callB int
	}{
		{1, 1, 1}, // the first Read pulls one chunk from each
		{2, 2, 1}, // taking a's last value pulls a's next chunk
		{3, 2, 1},
		{4, 3, 1}, // a is exhausted: one io.EOF
		{10, 3, 2},
		{20, 3, 3},
	}
	for i, s := range steps {
		if n, err := m.Read(buf); n != 1 || err != nil || buf[0] != s.want {
			t.Fatalf("step %d: Read = %d, %v, %d; want 1, nil, %d", i, n, err, buf[0], s.want)
		}
		if a.calls != s.callA || b.calls != s.callB {
			t.Fatalf("step %d: Next calls %d, %d; want %d, %d", i, a.calls, b.calls, s.callA, s.callB)
		}
	}
	if n, err := m.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read at end = %d, %v; want 0, io.EOF", n, err)
	}
	if n, err := m.Read(buf); n != 0 || err != io.EOF || a.afterE+b.afterE != 0 {
		t.Fatalf("Read after end = %d, %v (Next after EOF: %d); want 0, io.EOF", n, err, a.afterE+b.afterE)
	}
}

// TestMergerEmptyRead checks Read with an empty buffer.
func TestMergerEmptyRead(t *testing.T) {
	m := New(SliceSource([]int64{1}))
	if n, err := m.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	if got, err := readAll(t, m, []int{4}); err != nil || !slices.Equal(got, []int64{1}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if n, err := m.Read(nil); n != 0 || err != io.EOF {
		t.Fatalf("Read(nil) at end = %d, %v; want 0, io.EOF", n, err)
	}
	if n, err := New().Read(make([]int64, 1)); n != 0 || err != io.EOF {
		t.Fatalf("no sources: Read = %d, %v; want 0, io.EOF", n, err)
	}
}

// TestSlice checks Slice and its Reset.
func TestSlice(t *testing.T) {
	s := SliceSource([]int64{1, 2})
	for range 2 {
		if c, err := s.Next(); err != nil || !slices.Equal(c, []int64{1, 2}) {
			t.Fatalf("Next = %v, %v", c, err)
		}
		if c, err := s.Next(); err != io.EOF || c != nil {
			t.Fatalf("second Next = %v, %v; want nil, io.EOF", c, err)
		}
		s.Reset([]int64{1, 2})
	}
	var zero Slice
	if c, err := zero.Next(); err != nil || len(c) != 0 {
		t.Fatalf("zero Slice: Next = %v, %v", c, err)
	}
}

// TestReadDoesNotAllocate checks that Read and Reset allocate nothing once
// the Merger has been used at this k, for slice and chunked sources.
func TestReadDoesNotAllocate(t *testing.T) {
	runs := benchRuns(10)
	for _, chunk := range []int{0, 1000} {
		src := newBenchSources(runs, chunk)
		m := New(src.reset()...)
		buf := make([]int64, 4096)
		drain := func() {
			m.Reset(src.reset()...)
			for {
				if _, err := m.Read(buf); err != nil {
					break
				}
			}
		}
		drain() // let chunk sources size their buffers
		if a := testing.AllocsPerRun(3, drain); a != 0 {
			t.Errorf("chunk=%d: %v allocations per merge, want 0", chunk, a)
		}
	}
}

// TestMergeFunc covers Merge's small-k paths and appending to dst.
func TestMergeFunc(t *testing.T) {
	dst := []int64{-1}
	if got := Merge(dst); !slices.Equal(got, []int64{-1}) {
		t.Fatalf("no runs: %v", got)
	}
	if got := Merge(dst, []int64{1, 2}); !slices.Equal(got, []int64{-1, 1, 2}) {
		t.Fatalf("one run: %v", got)
	}
	if got := Merge(dst, []int64{1, 3, maxI}, []int64{minI, 2, 3}); !slices.Equal(got, []int64{-1, minI, 1, 2, 3, 3, maxI}) {
		t.Fatalf("two runs: %v", got)
	}
	if got := Merge(nil, []int64{2}, nil, []int64{1, 1}); !slices.Equal(got, []int64{1, 1, 2}) {
		t.Fatalf("three runs: %v", got)
	}
}
