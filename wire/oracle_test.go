package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

// This file is the model the decoder is checked against: the rules of the
// package doc, written the slow way on top of encoding/json.

// problemAt is one semantic problem the model finds: a reason and a field.
type problemAt struct {
	Reason, Field string
}

// verdict is what the model makes of a record.
type verdict struct {
	syntaxOK bool        // valid JSON whose top level is an object
	problems []problemAt // every field's problem; any one may be reported
	seg      Segment     // when syntaxOK and no problems
}

// valid reports whether the model accepts the record.
func (v verdict) valid() bool { return v.syntaxOK && len(v.problems) == 0 }

// allows reports whether err is an error the model would accept for the record.
func (v verdict) allows(e *Error) bool {
	if !v.syntaxOK {
		return e.Reason == ReasonNotJSON
	}
	for _, p := range v.problems {
		if p.Reason == e.Reason && p.Field == e.Field {
			return true
		}
	}
	return false
}

// trimJSONSpace trims JSON whitespace (only) from both ends of b.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// modelInt classifies raw as an int64 the way the rules do, given that raw
// is valid JSON and not null.
func modelInt(raw []byte) (int64, string) {
	switch raw[0] {
	case '"', 't', 'f', '{', '[', 'n':
		return 0, ReasonType
	}
	var v int64
	if err := json.Unmarshal(raw, &v); err != nil {
		if bytes.ContainsAny(raw, ".eE") {
			return 0, ReasonNotInteger
		}
		return 0, ReasonRange
	}
	return v, ""
}

// model decodes b by the rules, as Decode (output false) or DecodeOutput.
func model(t testing.TB, b []byte, output bool) verdict {
	t.Helper()
	var v verdict
	if s := trimJSONSpace(b); !json.Valid(b) || len(s) == 0 || s[0] != '{' {
		return v
	}
	v.syntaxOK = true
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("model: json.Valid object that json.Unmarshal refuses: %v", err)
	}
	bad := func(reason, field string) { v.problems = append(v.problems, problemAt{reason, field}) }
	intField := func(name string, required bool, least int64) (int64, bool) {
		raw, ok := m[name]
		raw = trimJSONSpace(raw)
		if !ok || string(raw) == "null" {
			if required {
				bad(ReasonMissing, name)
			}
			return 0, false
		}
		n, reason := modelInt(raw)
		if reason == "" && n < least {
			reason = ReasonRange
		}
		if reason != "" {
			bad(reason, name)
			return 0, false
		}
		return n, true
	}

	v.seg.Last = true
	v.seg.BatchID, _ = intField("batch_id", true, 0)
	v.seg.Chunk, _ = intField("chunk", false, 0)
	if !output {
		v.seg.SegmentID, _ = intField("segment_id", true, 0)
		v.seg.Segments, _ = intField("segments", false, 1)
	}
	if raw, ok := m["last"]; ok {
		switch raw = trimJSONSpace(raw); string(raw) {
		case "null":
		case "true", "false":
			if err := json.Unmarshal(raw, &v.seg.Last); err != nil {
				t.Fatalf("model: last %s: %v", raw, err)
			}
		default:
			bad(ReasonType, "last")
		}
	}
	raw, ok := m["data"]
	raw = trimJSONSpace(raw)
	switch {
	case !ok || string(raw) == "null":
		bad(ReasonMissing, "data")
	case raw[0] != '[':
		bad(ReasonType, "data")
	default:
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			t.Fatalf("model: data %s: %v", raw, err)
		}
		data := []int64{}
		prev := int64(math.MinInt64)
		for k, e := range elems {
			n, reason := modelInt(trimJSONSpace(e))
			if reason == "" && n < prev {
				reason = ReasonUnsorted
			}
			if reason != "" {
				bad(reason, fmt.Sprintf("data[%d]", k))
				break
			}
			data = append(data, n)
			prev = n
		}
		v.seg.Data = data
	}
	if len(v.problems) == 0 && !output && v.seg.Segments > 0 && v.seg.SegmentID >= v.seg.Segments {
		bad(ReasonSegment, "segment_id")
	}
	return v
}

// checkAgainstModel decodes b with d and fails t unless the result agrees
// with the model.
func checkAgainstModel(t *testing.T, d *Decoder, b []byte, output bool) {
	t.Helper()
	want := model(t, b, output)
	var got Segment
	var err error
	if output {
		err = d.DecodeOutput(b, &got)
	} else {
		err = d.Decode(b, &got)
		// And into a buffer with room for every element, as the
		// consumer decodes: dataField's loops for small values run only
		// where there is room, so this is where the model meets them.
		var into Segment
		ierr := d.DecodeInto(b, &into, make([]int64, 0, CountUpperBound(b)))
		if fmt.Sprint(ierr) != fmt.Sprint(err) || ierr == nil && !equalSegment(into, got) {
			t.Fatalf("%q: DecodeInto gives %+v, %v; Decode %+v, %v", b, into, ierr, got, err)
		}
	}
	if err == nil {
		if !want.valid() {
			t.Fatalf("%q: decoded, want error (model: syntax ok %v, problems %v)", b, want.syntaxOK, want.problems)
		}
		if !equalSegment(got, want.seg) {
			t.Fatalf("%q: decoded %+v, model %+v", b, got, want.seg)
		}
		return
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("%q: error %T %v, want *Error", b, err, err)
	}
	if want.valid() {
		t.Fatalf("%q: %v; the model accepts it as %+v", b, err, want.seg)
	}
	if !want.allows(e) {
		t.Fatalf("%q: %v (reason %s, field %q); model: syntax ok %v, problems %v", b, err, e.Reason, e.Field, want.syntaxOK, want.problems)
	}
	if e.Offset < 0 || e.Offset > len(b) {
		t.Fatalf("%q: %v: offset %d outside the record", b, err, e.Offset)
	}
}

// equalSegment compares two segments, treating nil and empty data alike.
func equalSegment(a, b Segment) bool {
	if a.BatchID != b.BatchID || a.SegmentID != b.SegmentID || a.Segments != b.Segments ||
		a.Chunk != b.Chunk || a.Last != b.Last || len(a.Data) != len(b.Data) {
		return false
	}
	for k := range a.Data {
		if a.Data[k] != b.Data[k] {
			return false
		}
	}
	return true
}
