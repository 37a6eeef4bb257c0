package wire

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
)

// benchRecord returns an input record with n sorted values in [lo, hi], in
// the producer's format (", " between values).
func benchRecord(n int, lo, hi int64) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, n)
	for k := range vals {
		vals[k] = lo + r.Int64N(hi-lo+1)
	}
	sortInts(vals)
	b := []byte(`{"batch_id": 7, "segment_id": 3, "data": [`)
	for k, v := range vals {
		if k > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, "]}"...)
}

func sortInts(v []int64) {
	// A small heap sort keeps the benchmark file free of extra imports.
	n := len(v)
	down := func(i, n int) {
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && v[c+1] > v[c] {
				c++
			}
			if v[i] >= v[c] {
				return
			}
			v[i], v[c] = v[c], v[i]
			i = c
		}
	}
	for i := n/2 - 1; i >= 0; i-- {
		down(i, n)
	}
	for end := n - 1; end > 0; end-- {
		v[0], v[end] = v[end], v[0]
		down(0, end)
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name   string
		record []byte
	}{
		{"10000-ints", benchRecord(10000, 0, 1e9)},
		{"15-small-ints", benchRecord(15, 1, 10)},
		{"15-small-ints-compact", compact(benchRecord(15, 1, 10))},
	} {
		// Each record through Decode, then through the general way
		// alone, which Decode takes when quick does not.
		for _, way := range []string{"", "/general"} {
			b.Run(bc.name+way, func(b *testing.B) {
				var d Decoder
				var s Segment
				decode := func() *Error {
					if way == "" {
						return d.decode(bc.record, &s, false)
					}
					return d.general(bc.record, &s, false)
				}
				if err := decode(); err != nil { // grow the buffer: measure the steady state
					b.Fatal(err)
				}
				b.SetBytes(int64(len(bc.record)))
				b.ReportAllocs()
				for b.Loop() {
					if err := decode(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(s.Data)*b.N)/b.Elapsed().Seconds()/1e6, "Mints/s")
			})
		}
	}
}

// compact drops the spaces of a record benchRecord made, as segmerge's
// producer writes records.
func compact(b []byte) []byte {
	out := b[:0:0]
	for _, c := range b {
		if c != ' ' {
			out = append(out, c)
		}
	}
	return out
}

// BenchmarkDecodeEncodingJSON is the baseline the package doc quotes:
// encoding/json decoding the same 10,000-int record through reflection.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	record := benchRecord(10000, 0, 1e9)
	var v struct {
		BatchID   int64   `json:"batch_id"`
		SegmentID int64   `json:"segment_id"`
		Data      []int64 `json:"data"`
	}
	b.SetBytes(int64(len(record)))
	for b.Loop() {
		v.Data = v.Data[:0]
		if err := json.Unmarshal(record, &v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds()/1e6, "Mints/s")
}

func benchVals(n int, hi int64) []int64 {
	r := rand.New(rand.NewPCG(3, 4))
	vals := make([]int64, n)
	for k := range vals {
		vals[k] = r.Int64N(hi)
	}
	return vals
}

func BenchmarkAppendInts(b *testing.B) {
	for _, bc := range []struct {
		name string
		hi   int64
	}{{"0..1e9", 1e9}, {"1..10", 10}, {"int64", 1 << 62}} {
		vals := benchVals(10000, bc.hi)
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 256<<10)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendInts(buf[:0], vals, true)
			}
			b.ReportMetric(float64(len(vals)*b.N)/b.Elapsed().Seconds()/1e6, "Mints/s")
		})
		// The same with strconv.AppendInt, the choice appendInt was measured against.
		b.Run(bc.name+"/strconv", func(b *testing.B) {
			buf := make([]byte, 0, 256<<10)
			for b.Loop() {
				buf = buf[:0]
				for k, v := range vals {
					if k > 0 {
						buf = append(buf, ',')
					}
					buf = strconv.AppendInt(buf, v, 10)
				}
			}
			b.ReportMetric(float64(len(vals)*b.N)/b.Elapsed().Seconds()/1e6, "Mints/s")
		})
	}
}

func BenchmarkAppendSegment(b *testing.B) {
	for _, n := range []int{15, 10000} {
		s := Segment{BatchID: 7, SegmentID: 3, Segments: 10, Last: true, Data: benchVals(n, 1e9)}
		sortInts(s.Data)
		b.Run(strconv.Itoa(n)+"-ints", func(b *testing.B) {
			buf := AppendSegment(nil, &s)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendSegment(buf[:0], &s)
			}
		})
	}
}
