package wire

import (
	"bytes"
	"encoding/binary"
	"strconv"
)

// Decoder decodes records. The zero value is ready to use. A Decoder reuses
// its buffers from call to call, so decoding a stream of records does not
// allocate once the buffer has grown to the largest data array; the price is
// that Segment.Data is valid only until the next call. A Decoder is not safe
// for concurrent use: give each goroutine its own.
type Decoder struct {
	data  []int64
	slots [numFields]slot
	open  [(maxDepth + 63) / 64]uint64 // see skipNested
}

// field names one field the decoder reads.
type field uint8

const (
	fieldBatchID field = iota
	fieldSegmentID
	fieldSegments
	fieldChunk
	fieldLast
	fieldData
	numFields
	fieldUnknown = numFields
)

var fieldNames = [numFields]string{"batch_id", "segment_id", "segments", "chunk", "last", "data"}

// problem is what is wrong with the last occurrence of a field, if anything.
type problem uint8

const (
	problemNone     problem = iota
	problemNull             // required field is null
	problemType             // wrong kind of value; the value starts at slot.off
	problemNotInt           // fraction or exponent; token b[off:end]
	problemOverflow         // integer beyond int64; token b[off:end]
	problemNegative         // negative id or chunk; token b[off:end]
	problemBelowOne         // segments < 1; token b[off:end]
	problemUnsorted         // data goes down; token b[off:end], v < prev
)

// slot holds what the decoder learned from the last occurrence of a field.
// A later duplicate key resets the slot, so the last occurrence wins.
type slot struct {
	seen  bool    // a valid, non-null value was read
	prob  problem // the first problem in the value, or problemNone
	off   int     // where the value starts, or where its problem does
	end   int     // end of the offending token
	index int     // data: index of the offending element, or -1
	v     int64   // the value; with problemUnsorted the element that goes down
	prev  int64   // with problemUnsorted, the element before it
	flag  bool    // last
}

// Decode decodes the input record b into *s. It needs batch_id, segment_id
// and data; segments, chunk and last are optional. On failure it returns an
// *Error and leaves *s unchanged. s.Data aliases the Decoder's buffer.
func (d *Decoder) Decode(b []byte, s *Segment) error {
	if err := d.decode(b, s, false); err != nil {
		return err
	}
	return nil
}

// DecodeInto is Decode with the data appended to buf[:0] rather than to the
// Decoder's buffer, so that s.Data belongs to the caller: a caller that
// keeps the data need not copy it. Give buf the capacity the record needs
// (see CountUpperBound) and nothing is copied or grown; the loops for the
// original workload's small values (smallValues) run only where there is
// that room. It may write anywhere in buf[:cap(buf)], even when it fails.
func (d *Decoder) DecodeInto(b []byte, s *Segment, buf []int64) error {
	own := d.data
	d.data = buf[:0]
	err := d.decode(b, s, false)
	d.data = own
	if err != nil {
		return err
	}
	return nil
}

// CountUpperBound returns a number of integers that the data of record b
// cannot exceed: its commas, plus one. It reads b at memory speed.
func CountUpperBound(b []byte) int { return bytes.Count(b, comma) + 1 }

var comma = []byte{','}

// DecodeOutput decodes the output record b (as AppendOutputStart and friends
// write it) into *s. It needs batch_id and data; chunk and last are optional;
// segment_id and segments are not read, like any unknown field, and
// s.SegmentID and s.Segments are set to 0. Errors are as for Decode.
func (d *Decoder) DecodeOutput(b []byte, s *Segment) error {
	if err := d.decode(b, s, true); err != nil {
		return err
	}
	return nil
}

// decode does the work of Decode and DecodeOutput. It returns a typed nil
// only through its callers, which turn it into an untyped nil error.
func (d *Decoder) decode(b []byte, s *Segment, output bool) *Error {
	if !output && d.quick(b, s) {
		return nil
	}
	return d.general(b, s, output)
}

// general decodes any record, every field in any order, as the package
// doc says.
func (d *Decoder) general(b []byte, s *Segment, output bool) *Error {
	d.slots = freshSlots
	d.data = d.data[:0]

	i := skipSpace(b, 0)
	if i >= len(b) {
		return syntaxError(b, i, "")
	}
	if b[i] != '{' {
		j, err := d.skipValue(b, i, 0)
		if err != nil {
			return err
		}
		if j = skipSpace(b, j); j < len(b) {
			return syntaxError(b, j, "after top-level value")
		}
		return &Error{Reason: ReasonNotJSON, Offset: i, Msg: "top level is not an object"}
	}
	i = skipSpace(b, i+1)
	if i >= len(b) {
		return syntaxError(b, i, "")
	}
	if b[i] != '}' {
		for {
			if b[i] != '"' {
				return syntaxError(b, i, "looking for beginning of object key string")
			}
			var err *Error
			f, j := plainKey(b, i)
			if j == 0 {
				var escaped bool
				if j, escaped, err = skipString(b, i); err != nil {
					return err
				}
				f = lookup(b[i+1:j-1], escaped, output)
			} else if output && (f == fieldSegmentID || f == fieldSegments) {
				f = fieldUnknown
			}
			i = skipSpace(b, j)
			if i >= len(b) || b[i] != ':' {
				return syntaxError(b, i, "after object key")
			}
			if i = skipSpace(b, i+1); i >= len(b) {
				return syntaxError(b, i, "")
			}
			switch f {
			case fieldData:
				i, err = d.dataField(b, i)
			case fieldLast:
				i, err = d.boolField(b, i)
			case fieldUnknown:
				i, err = d.skipValue(b, i, 1)
			default:
				i, err = d.intField(b, i, f, f == fieldBatchID || f == fieldSegmentID)
			}
			if err != nil {
				return err
			}
			if i = skipSpace(b, i); i >= len(b) {
				return syntaxError(b, i, "")
			}
			if b[i] == '}' {
				break
			}
			if b[i] != ',' {
				return syntaxError(b, i, "after object key:value pair")
			}
			if i = skipSpace(b, i+1); i >= len(b) {
				return syntaxError(b, i, "")
			}
		}
	}
	closing := i
	if i = skipSpace(b, i+1); i < len(b) {
		return syntaxError(b, i, "after top-level value")
	}
	return d.finish(b, s, closing, output)
}

// quick decodes input record b when it is exactly as segmerge's producer
// writes one, {"batch_id":N,"segment_id":S,"data":[...]}, or as Python's
// json.dumps does, {"batch_id": N, "segment_id": S, "data": [...]}: those
// three fields in that order, no other whitespace outside the array, each
// id 0 or 1 to 18 digits with no leading zero; and reports whether it did.
// It decides nothing the general way would decide otherwise: anything
// else, a problem in the data included, returns false, and decode reads
// the record the general way from its start. It saves the general way's
// work on a record's structure (slots, keys, their checks), which took
// about half of the decoding of the original workload's 73-byte records.
func (d *Decoder) quick(b []byte, s *Segment) bool {
	// The literals are read as 8-byte words: {"batch_id": (12 bytes) as
	// its first 8 and its last 8, overlapping; then either form's rest.
	// 39 bytes: the shortest such record, {"batch_id":0,"segment_id":0,"data":[]}.
	if len(b) < 39 || word(b, 0) != quickHead[0] || word(b, 4) != quickHead[1] {
		return false
	}
	f := &quickForms[0]
	if b[12] == ' ' {
		f = &quickForms[1]
	}
	id, i := quickID(b, 12+f.space)
	if i < 0 || i+f.mid+f.tail+3 > len(b) || word(b, i) != f.words[0] || word(b, i+f.mid-8) != f.words[1] {
		return false
	}
	seg, i := quickID(b, i+f.mid)
	if i < 0 || i+f.tail+2 > len(b) || word(b, i) != f.words[2] || word(b, i+f.tail-8) != f.words[3] {
		return false
	}
	end, err := d.dataField(b, i+f.tail-1) // at the [
	if err != nil || d.slots[fieldData].prob != problemNone || end != len(b)-1 || b[end] != '}' {
		return false
	}
	*s = Segment{BatchID: id, SegmentID: seg, Last: true, Data: d.data}
	return true
}

// quickHead is {"batch_id": as quick reads it.
var quickHead = [2]uint64{word([]byte(`{"batch_`), 0), word([]byte(`tch_id":`), 0)}

// quickForm is one way of writing the literals between quick's ids, each
// read as its first 8 bytes and its last 8: the one between the ids (mid
// bytes long), and the one from the segment id to the array (tail bytes,
// its [ included).
type quickForm struct {
	space     int // bytes after {"batch_id":
	mid, tail int
	words     [4]uint64
}

var quickForms = [2]quickForm{
	newQuickForm("", `,"segment_id":`, `,"data":[`),
	newQuickForm(" ", `, "segment_id": `, `, "data": [`),
}

func newQuickForm(space, mid, tail string) quickForm {
	w := func(s string) uint64 { return word([]byte(s), 0) }
	return quickForm{space: len(space), mid: len(mid), tail: len(tail),
		words: [4]uint64{w(mid[:8]), w(mid[len(mid)-8:]), w(tail[:8]), w(tail[len(tail)-8:])}}
}

// word reads the 8 bytes of b at i as a little-endian word.
func word(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }

// quickID reads an id at b[i] for quick: 0, or 1 to 18 digits with no
// leading zero. It returns the id and the offset after it, or -1. A digit
// after those (a 19th, or one after a leading zero) is not taken here and
// fails quick's next literal.
func quickID(b []byte, i int) (int64, int) {
	switch {
	case i >= len(b) || b[i]-'0' > 9:
		return 0, -1
	case b[i] == '0':
		return 0, i + 1
	}
	u, j := idDigits(b, i)
	return int64(u), j
}

// idDigits reads the digits at b[i], b[i] being 1 to 9, up to 18 of them:
// a number of at least 1 that fits an int64. It returns the number and
// the offset after the digits it read.
func idDigits(b []byte, i int) (uint64, int) {
	u, j := uint64(b[i]-'0'), i+1
	for j < len(b) && j-i < 18 && b[j]-'0' <= 9 {
		u = u*10 + uint64(b[j]-'0')
		j++
	}
	return u, j
}

// freshSlots is every slot as decode begins: nothing learned, no index.
var freshSlots = func() (s [numFields]slot) {
	for k := range s {
		s[k].index = -1
	}
	return s
}()

// quotedNames holds each field's name and its closing quote.
var quotedNames = [numFields]string{`batch_id"`, `segment_id"`, `segments"`, `chunk"`, `last"`, `data"`}

// plainKey reads the key whose opening quote is b[i] when it is a field's
// name as producers write it, without escapes, and returns the field and
// the offset past its closing quote. Otherwise it returns offset 0, and the
// caller reads the key the general way (skipString, lookup): plainKey
// saves that work on every key of every record, and decides nothing the
// general way would decide otherwise.
func plainKey(b []byte, i int) (field, int) {
	if i+2 >= len(b) {
		return 0, 0
	}
	var f field
	switch b[i+1] {
	case 'b':
		f = fieldBatchID
	case 's':
		f = fieldSegmentID
		if i+8 < len(b) && b[i+8] == 's' { // segment_id or segments
			f = fieldSegments
		}
	case 'c':
		f = fieldChunk
	case 'l':
		f = fieldLast
	case 'd':
		f = fieldData
	default:
		return 0, 0
	}
	name := quotedNames[f]
	end := i + 1 + len(name)
	if end > len(b) {
		return 0, 0
	}
	if w := &nameWords[f]; i+9 <= len(b) {
		// The name in one or two 8-byte loads, not a call to compare.
		if word(b, i+1)&w.mask != w.head || len(name) > 8 && word(b, end-8) != w.tail {
			return 0, 0
		}
		return f, end
	}
	if string(b[i+1:end]) != name {
		return 0, 0
	}
	return f, end
}

// nameWords holds each quoted name as plainKey compares it: its first 8
// bytes (head, those past the name masked off) and its last 8 (tail).
var nameWords = func() (ws [numFields]struct{ head, tail, mask uint64 }) {
	for f, name := range quotedNames {
		var buf [8]byte
		n := copy(buf[:], name)
		ws[f].mask = ^uint64(0) >> (64 - 8*n)
		ws[f].head = word(buf[:], 0)
		if len(name) >= 8 {
			ws[f].tail = word([]byte(name[len(name)-8:]), 0)
		}
	}
	return ws
}()

// lookup maps a key (the bytes between its quotes) to the field it names.
// Matching is exact and case-sensitive, after unescaping. Only escaped keys
// take the slow path, and it too works in a fixed buffer on the stack.
func lookup(key []byte, escaped, output bool) field {
	var buf [16]byte // longer than any field name
	if escaped {
		k, ok := unescapeKey(key, buf[:])
		if !ok {
			return fieldUnknown
		}
		key = k
	}
	var f field
	switch string(key) {
	case "batch_id":
		f = fieldBatchID
	case "segment_id":
		f = fieldSegmentID
	case "segments":
		f = fieldSegments
	case "chunk":
		f = fieldChunk
	case "last":
		f = fieldLast
	case "data":
		f = fieldData
	default:
		return fieldUnknown
	}
	if output && (f == fieldSegmentID || f == fieldSegments) {
		return fieldUnknown
	}
	return f
}

// intField reads the integer field f whose value starts at b[i].
func (d *Decoder) intField(b []byte, i int, f field, required bool) (int, *Error) {
	sl := &d.slots[f]
	*sl = slot{off: i, index: -1}
	if b[i]-'1' < 9 {
		// The usual id: up to 18 digits, no sign, no leading zero, then
		// a delimiter. It fits an int64 and is at least 1, so no check
		// below can fail; anything else is read by scanNumber.
		u, j := idDigits(b, i)
		if j < len(b) && b[j]-'0' > 9 && b[j] != '.' && b[j] != 'e' && b[j] != 'E' {
			sl.end, sl.v, sl.seen = j, int64(u), true
			return j, nil
		}
	}
	switch c := b[i]; {
	case c == '-' || c-'0' <= 9:
		v, j, kind, err := scanNumber(b, i)
		if err != nil {
			return 0, err
		}
		sl.end = j
		switch {
		case kind == numNotInt:
			sl.prob = problemNotInt
		case kind == numOverflow:
			sl.prob = problemOverflow
		case f == fieldSegments && v < 1:
			sl.prob = problemBelowOne
		case v < 0:
			sl.prob = problemNegative
		default:
			sl.v = v
			sl.seen = true
		}
		return j, nil
	case c == 'n':
		if required {
			sl.prob = problemNull
		}
		return skipLiteral(b, i, "null")
	}
	sl.prob = problemType
	return d.skipValue(b, i, 1)
}

// boolField reads the "last" field whose value starts at b[i].
func (d *Decoder) boolField(b []byte, i int) (int, *Error) {
	sl := &d.slots[fieldLast]
	*sl = slot{off: i, index: -1}
	switch b[i] {
	case 't':
		sl.seen, sl.flag = true, true
		return skipLiteral(b, i, "true")
	case 'f':
		sl.seen, sl.flag = true, false
		return skipLiteral(b, i, "false")
	case 'n':
		return skipLiteral(b, i, "null")
	}
	sl.prob = problemType
	return d.skipValue(b, i, 1)
}

// finish checks the record as a whole once its syntax is known to be good,
// and fills *s. closing is the offset of the record's closing brace.
func (d *Decoder) finish(b []byte, s *Segment, closing int, output bool) *Error {
	sl := &d.slots
	if sl[0].prob|sl[1].prob|sl[2].prob|sl[3].prob|sl[4].prob|sl[5].prob != problemNone ||
		!sl[fieldBatchID].seen || !sl[fieldData].seen || !sl[fieldSegmentID].seen && !output {
		return d.refuse(b, closing, output)
	}
	out := Segment{
		BatchID: d.slots[fieldBatchID].v,
		Chunk:   d.slots[fieldChunk].v,
		Last:    true,
		Data:    d.data,
	}
	if d.slots[fieldLast].seen {
		out.Last = d.slots[fieldLast].flag
	}
	if !output {
		out.SegmentID = d.slots[fieldSegmentID].v
		out.Segments = d.slots[fieldSegments].v
		if out.Segments > 0 && out.SegmentID >= out.Segments {
			return &Error{
				Reason: ReasonSegment,
				Field:  "segment_id",
				Offset: d.slots[fieldSegmentID].off,
				Msg:    strconv.FormatInt(out.SegmentID, 10) + " is not below segments " + strconv.FormatInt(out.Segments, 10),
			}
		}
	}
	*s = out
	return nil
}

// refuse returns the *Error for a record that finish found a problem in:
// the problem earliest in the record, else the first required field
// absent.
func (d *Decoder) refuse(b []byte, closing int, output bool) *Error {
	worst := fieldUnknown
	for f := range numFields {
		if d.slots[f].prob != problemNone && (worst == fieldUnknown || d.slots[f].off < d.slots[worst].off) {
			worst = f
		}
	}
	if worst != fieldUnknown {
		return d.slotError(b, worst)
	}
	f := fieldData // finish found one absent: data, if not the others
	switch {
	case !d.slots[fieldBatchID].seen:
		f = fieldBatchID
	case !d.slots[fieldSegmentID].seen && !output:
		f = fieldSegmentID
	}
	return &Error{Reason: ReasonMissing, Field: fieldNames[f], Offset: closing, Msg: "required field is absent"}
}

// finish tests every slot's problem by name: there are six.
var _ = [1]struct{}{}[numFields-6]

// slotError builds the *Error for the problem recorded in field f's slot.
func (d *Decoder) slotError(b []byte, f field) *Error {
	sl := &d.slots[f]
	return problemError(f, sl, b[sl.off], b[sl.off:max(sl.off, sl.end)])
}

// problemError builds the *Error for the problem recorded in sl, the slot of
// field f: first is the first byte of the offending value and tok the
// offending token (or its first 41 bytes or more; only 40 are shown).
func problemError(f field, sl *slot, first byte, tok []byte) *Error {
	e := &Error{Field: fieldNames[f], Offset: sl.off}
	if sl.index >= 0 {
		e.Field = "data[" + strconv.Itoa(sl.index) + "]"
	}
	text := tokenText(tok)
	switch sl.prob {
	case problemNull:
		e.Reason, e.Msg = ReasonMissing, "required field is null"
	case problemType:
		want := "integer"
		switch {
		case f == fieldLast:
			want = "boolean"
		case f == fieldData && sl.index < 0:
			want = "array"
		}
		e.Reason, e.Msg = ReasonType, "got "+kindName(first)+", want "+want
	case problemNotInt:
		e.Reason, e.Msg = ReasonNotInteger, text+" is not an integer"
	case problemOverflow:
		e.Reason, e.Msg = ReasonRange, text+" is outside the int64 range"
	case problemNegative:
		e.Reason, e.Msg = ReasonRange, text+" is negative"
	case problemBelowOne:
		e.Reason, e.Msg = ReasonRange, text+" is less than 1"
	case problemUnsorted:
		e.Reason, e.Msg = ReasonUnsorted, text+" is less than the value before it, "+strconv.FormatInt(sl.prev, 10)
	}
	return e
}

// kindName names the kind of JSON value that starts with c.
func kindName(c byte) string {
	switch c {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "number"
}
