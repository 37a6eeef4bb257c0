package wire

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestAppendInt(t *testing.T) {
	vals := []int64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, 1e9, 1e18 - 1, 1e18,
		math.MaxInt64, math.MaxInt64 - 1, math.MinInt64, math.MinInt64 + 1, -1, -9, -10, -99, -100}
	for k := int64(1); k > 0 && k < math.MaxInt64/10; k *= 10 {
		vals = append(vals, k-1, k, k+1, -k+1, -k, -k-1)
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(uint64(seed), 1))
	for range 10000 {
		vals = append(vals, int64(r.Uint64())>>r.IntN(64))
	}
	for v := int64(-200); v <= 200; v++ { // AppendInts' small values, and either side
		vals = append(vals, v)
	}
	for _, v := range vals {
		if got, want := string(appendInt([]byte("x"), v)), "x"+strconv.FormatInt(v, 10); got != want {
			t.Fatalf("appendInt(%d) = %q, want %q", v, got, want)
		}
	}
	// AppendInts writes each value as appendInt does, after a comma.
	var want []byte
	for _, v := range vals {
		want = strconv.AppendInt(append(want, ','), v, 10)
	}
	if got := AppendInts([]byte("["), vals, false); string(got[1:]) != string(want) {
		t.Fatalf("AppendInts differs from strconv.AppendInt over the same %d values", len(vals))
	}
	// Small values from every start, so that the four-value stores meet
	// every alignment and every kind of value after them.
	small := []int64{0, 1, 1, 2, 3, 5, 8, 9, 9, 9, 10, 13, 21, 34, 55, 89, 99, 100, 7, -1, 3, 3, 3, 3, 3}
	for from := range small {
		want = want[:0]
		for _, v := range small[from:] {
			want = strconv.AppendInt(append(want, ','), v, 10)
		}
		if got := AppendInts(nil, small[from:], false); string(got) != string(want) {
			t.Fatalf("AppendInts(%v) = %s, want %s", small[from:], got, want)
		}
	}
}

func TestEncoders(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"segment whole", AppendSegment(nil, &Segment{BatchID: 7, SegmentID: 3, Last: true, Data: []int64{1, 2, 2, 9}}),
			`{"batch_id":7,"segment_id":3,"data":[1,2,2,9]}`},
		{"segment with segments", AppendSegment(nil, &Segment{BatchID: 7, SegmentID: 3, Segments: 10, Last: true, Data: []int64{-1}}),
			`{"batch_id":7,"segment_id":3,"segments":10,"data":[-1]}`},
		{"segment first chunk", AppendSegment(nil, &Segment{BatchID: 7, SegmentID: 3, Segments: 10, Chunk: 0, Last: false, Data: []int64{1}}),
			`{"batch_id":7,"segment_id":3,"segments":10,"chunk":0,"last":false,"data":[1]}`},
		{"segment last chunk", AppendSegment(nil, &Segment{BatchID: 7, SegmentID: 3, Chunk: 2, Last: true}),
			`{"batch_id":7,"segment_id":3,"chunk":2,"last":true,"data":[]}`},
		{"segment appends", AppendSegment([]byte("x"), &Segment{Last: true}),
			`x{"batch_id":0,"segment_id":0,"data":[]}`},
		{"output line", AppendOutputEnd(AppendInts(AppendInts(AppendOutputStart(nil, 7), []int64{1, 1}, true), []int64{2, 9}, false)),
			`{"batch_id":7,"data":[1,1,2,9]}`},
		{"output empty", AppendOutputEnd(AppendInts(AppendOutputStart(nil, 7), nil, true)),
			`{"batch_id":7,"data":[]}`},
		{"output empty continuation", AppendOutputEnd(AppendInts(AppendInts(AppendOutputStart(nil, 7), []int64{5}, true), nil, false)),
			`{"batch_id":7,"data":[5]}`},
		{"output chunk", AppendOutputEnd(AppendInts(AppendOutputChunkStart(nil, 7, 0, false), []int64{3}, true)),
			`{"batch_id":7,"chunk":0,"last":false,"data":[3]}`},
		{"output last chunk", AppendOutputEnd(AppendInts(AppendOutputChunkStart(nil, 7, 4, true), []int64{3}, true)),
			`{"batch_id":7,"chunk":4,"last":true,"data":[3]}`},
		{"text", AppendTextInts(AppendTextStart(nil, 7), []int64{1, 1, 2, 9}), `batch 7: 1 1 2 9`},
		{"text empty", AppendTextInts(AppendTextStart(nil, 7), nil), `batch 7:`},
		{"ints extremes", AppendInts(nil, []int64{math.MinInt64, 0, math.MaxInt64}, true), `-9223372036854775808,0,9223372036854775807`},
		{"ints continue", AppendInts([]byte("[1"), []int64{2, 3}, false), `[1,2,3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Fatalf("got %s, want %s", tc.got, tc.want)
			}
		})
	}
}

// randomSegment returns a valid Segment with fields and data drawn from r,
// edge values included.
func randomSegment(r *rand.Rand) Segment {
	edge := func(lo int64) int64 {
		switch r.IntN(4) {
		case 0:
			return lo
		case 1:
			return math.MaxInt64
		case 2:
			return lo + r.Int64N(20)
		}
		return lo + r.Int64N(math.MaxInt64-lo)
	}
	s := Segment{BatchID: edge(0), Last: r.IntN(2) == 0}
	if r.IntN(2) == 0 {
		s.Segments = edge(1)
		s.SegmentID = r.Int64N(s.Segments)
	} else {
		s.SegmentID = edge(0)
	}
	if r.IntN(2) == 0 {
		s.Chunk = edge(0)
	}
	n := r.IntN(50)
	if r.IntN(20) == 0 {
		n = r.IntN(20000)
	}
	s.Data = make([]int64, n)
	v := int64(math.MinInt64) + r.Int64N(3)
	if r.IntN(2) == 0 {
		v = r.Int64N(1000) - 500
	}
	for k := range s.Data {
		s.Data[k] = v
		if step := r.Int64N(1 << r.IntN(40)); v <= math.MaxInt64-step {
			v += step
		}
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(uint64(seed), 2))
	var d Decoder
	var buf []byte
	for range 2000 {
		want := randomSegment(r)
		buf = AppendSegment(buf[:0], &want)
		var got Segment
		if err := d.Decode(buf, &got); err != nil {
			t.Fatalf("%+v encoded as %s: %v", want, buf, err)
		}
		if !equalSegment(got, want) {
			t.Fatalf("%s: decoded %+v, want %+v", buf, got, want)
		}
		if !json.Valid(buf) {
			t.Fatalf("%s: not valid JSON", buf)
		}

		// The same data as an output record, split into two chunks.
		cut := len(want.Data) / 2
		buf = AppendOutputChunkStart(buf[:0], want.BatchID, want.Chunk, want.Last)
		buf = AppendInts(buf, want.Data[:cut], true)
		buf = AppendInts(buf, want.Data[cut:], cut == 0)
		buf = AppendOutputEnd(buf)
		if err := d.DecodeOutput(buf, &got); err != nil {
			t.Fatalf("%s: %v", buf, err)
		}
		want.SegmentID, want.Segments = 0, 0
		if !equalSegment(got, want) {
			t.Fatalf("%s: decoded %+v, want %+v", buf, got, want)
		}
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	s := Segment{BatchID: 7, SegmentID: 3, Segments: 10, Chunk: 1, Data: []int64{1, 2, 3, math.MaxInt64}}
	buf := make([]byte, 0, 1024)
	n := testing.AllocsPerRun(100, func() {
		b := AppendSegment(buf[:0], &s)
		b = AppendOutputChunkStart(b, 7, 1, false)
		b = AppendInts(b, s.Data, true)
		b = AppendOutputEnd(b)
		b = AppendTextStart(b, 7)
		_ = AppendTextInts(b, s.Data)
	})
	if n != 0 {
		t.Fatalf("%v allocations, want 0", n)
	}
}

// eightASCII agrees with strconv on every value below 1e6 and on a stride
// through the rest of 0..1e8, leading zeros included.
func TestEightASCII(t *testing.T) {
	var buf [8]byte
	for u := uint64(0); u < 1e8; {
		binary.LittleEndian.PutUint64(buf[:], eightASCII(u))
		want := strconv.FormatUint(u+1e8, 10)[1:] // eight digits, zero-padded
		if string(buf[:]) != want {
			t.Fatalf("eightASCII(%d) = %q, want %q", u, buf[:], want)
		}
		if u < 1e6 {
			u++
		} else {
			u += 97
		}
	}
}

// TestAppendCounted is a property test: counts rendered by AppendCounted
// and AppendTextCounted read as the values they describe rendered one by
// one by AppendInts and AppendTextInts, whatever the range (one-digit
// values take the four-a-word stores, others the doubling copies), the
// counts (zeros among them), first, and the bytes and room before them.
func TestAppendCounted(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lo := rapid.OneOf(rapid.Int64Range(-30, 30), rapid.Int64(),
			rapid.Int64Range(math.MaxInt64-40, math.MaxInt64-20), rapid.Int64Range(math.MinInt64, math.MinInt64+20)).Draw(t, "lo")
		span := rapid.IntRange(1, 20).Draw(t, "span")
		if lo > math.MaxInt64-int64(span) {
			lo = math.MaxInt64 - int64(span)
		}
		counts := rapid.SliceOfN(rapid.Uint32Range(0, 40), span, span).Draw(t, "counts")
		first := rapid.Bool().Draw(t, "first")
		prefix := []byte(rapid.StringMatching(`[a-z]{0,5}`).Draw(t, "prefix"))
		room := rapid.IntRange(0, 64).Draw(t, "room")
		var vals []int64
		for d, k := range counts {
			for range k {
				vals = append(vals, lo+int64(d))
			}
		}
		dst := append(make([]byte, 0, len(prefix)+room), prefix...)
		if got, want := string(AppendCounted(dst, lo, counts, first)), string(AppendInts(prefix, vals, first)); got != want {
			t.Fatalf("AppendCounted(lo %d, %v, first %v) = %q, want %q", lo, counts, first, got, want)
		}
		dst = append(make([]byte, 0, len(prefix)+room), prefix...)
		if got, want := string(AppendTextCounted(dst, lo, counts)), string(AppendTextInts(prefix, vals)); got != want {
			t.Fatalf("AppendTextCounted(lo %d, %v) = %q, want %q", lo, counts, got, want)
		}
	})
}
