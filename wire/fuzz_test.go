package wire

import (
	"reflect"
	"slices"
	"testing"
)

// fuzzSeeds are records the fuzzers start from besides the table cases and
// testdata/fuzz.
var fuzzSeeds = []string{
	`{"batch_id": 7, "segment_id": 3, "data": [1, 2, 2, 9]}`,
	`{"batch_id":7,"segment_id":3,"segments":10,"chunk":2,"last":false,"data":[5,6]}`,
	`{"batch_id":7,"chunk":0,"last":false,"data":[1,1,2,9]}`,
	`{"batch\u005fid":1,"x":{"y":[1,"z\"",null,true]},"segment_id":0,"data":[-0]}`,
	`{"batch_id":1,"segment_id":0,"data":[9223372036854775807,1e5,-9223372036854775809]}`,
	`{"batch_id":123456789012345678,"segment_id":0,"data":[1,1,2,3,5,8,9,10,10]}`,
}

// checkDirty decodes b with a Decoder that has decoded another record first,
// and fails t unless the result matches a fresh Decoder's: no state may
// leak from one record into the next.
func checkDirty(t *testing.T, b []byte, output bool) {
	var fresh, dirty Decoder
	var prior Segment
	_ = dirty.Decode([]byte(`{"batch_id":9,"segment_id":8,"segments":10,"chunk":4,"last":false,"data":[1,2,3,4,5,6,7,8,9]}`), &prior)
	var a, c Segment
	errA := decodeWith(&fresh, b, output, &a)
	errC := decodeWith(&dirty, b, output, &c)
	if (errA == nil) != (errC == nil) || errA != nil && errA.Error() != errC.Error() || !equalSegment(a, c) {
		t.Fatalf("%q: fresh decoder %v %+v, used decoder %v %+v", b, errA, a, errC, c)
	}
}

// checkReencode encodes a record that decoded and decodes it again.
func checkReencode(t *testing.T, b []byte, output bool) {
	var d Decoder
	var s Segment
	if decodeWith(&d, b, output, &s) != nil {
		return
	}
	want := s
	want.Data = append([]int64(nil), s.Data...)
	var out []byte
	if output {
		if want.Whole() {
			out = AppendOutputStart(nil, want.BatchID)
		} else {
			out = AppendOutputChunkStart(nil, want.BatchID, want.Chunk, want.Last)
		}
		out = AppendOutputEnd(AppendInts(out, want.Data, true))
	} else {
		out = AppendSegment(nil, &want)
	}
	var got Segment
	if err := decodeWith(&d, out, output, &got); err != nil || !equalSegment(got, want) {
		t.Fatalf("%q re-encoded as %q: %v %+v, want %+v", b, out, err, got, want)
	}
}

func addSeeds(f *testing.F, output bool) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, tc := range decodeCases {
		if tc.output == output && len(tc.in) < 1000 {
			f.Add([]byte(tc.in))
		}
	}
}

// FuzzDecode checks Decode against the model of oracle_test.go: it never
// panics, accepts exactly what the model accepts, decodes the same values,
// and reports an error class the model finds.
func FuzzDecode(f *testing.F) {
	addSeeds(f, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstModel(t, new(Decoder), b, false)
		checkDirty(t, b, false)
		checkReencode(t, b, false)
		checkInto(t, b)
		checkQuick(t, b)
	})
}

// checkQuick checks that quick, where it takes a record, decodes it as the
// general way does.
func checkQuick(t *testing.T, b []byte) {
	var q, g Segment
	var d Decoder
	if !d.quick(b, &q) {
		return
	}
	q.Data = slices.Clone(q.Data)
	if err := new(Decoder).general(b, &g, false); err != nil {
		t.Fatalf("quick took %q, which the general way refuses: %v", b, err)
	}
	if !reflect.DeepEqual(normal(q), normal(g)) {
		t.Fatalf("quick decoded %q as %+v, the general way as %+v", b, q, g)
	}
}

// checkInto checks that DecodeInto decodes as Decode does, into the
// caller's buffer when CountUpperBound sized it, leaving the Decoder's own
// buffer alone.
func checkInto(t *testing.T, b []byte) {
	var d Decoder
	var prior Segment
	if d.Decode([]byte(`{"batch_id":1,"segment_id":0,"data":[7,8,9]}`), &prior) != nil {
		t.Fatal("seed record refused")
	}
	var want, got Segment
	werr := new(Decoder).Decode(b, &want)
	buf := make([]int64, 0, CountUpperBound(b))
	gerr := d.DecodeInto(b, &got, buf)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("DecodeInto error %v, Decode error %v", gerr, werr)
	}
	if werr == nil {
		if !reflect.DeepEqual(normal(got), normal(want)) {
			t.Fatalf("DecodeInto %+v, Decode %+v", got, want)
		}
		if len(got.Data) > 0 && &got.Data[0] != &buf[:1][0] {
			t.Fatalf("DecodeInto's data is not in the caller's buffer (cap %d, len %d)", cap(buf), len(got.Data))
		}
	}
	if !reflect.DeepEqual(prior.Data, []int64{7, 8, 9}) {
		t.Fatalf("DecodeInto disturbed the Decoder's own buffer: %v", prior.Data)
	}
}

// normal makes an empty data slice nil, for comparison.
func normal(s Segment) Segment {
	if len(s.Data) == 0 {
		s.Data = nil
	}
	return s
}

// FuzzDecodeOutput is FuzzDecode for DecodeOutput.
func FuzzDecodeOutput(f *testing.F) {
	addSeeds(f, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstModel(t, new(Decoder), b, true)
		checkDirty(t, b, true)
		checkReencode(t, b, true)
	})
}
