package wire

// This file is the data array: the decoder's hot path.

import (
	"encoding/binary"
	"math"
)

// dataField reads the data array whose value starts at b[i] into d.data. It
// is the hot path: one pass over the bytes, the original workload's small
// values first (smallValues), then digits accumulated as they are scanned,
// the order checked on the way. After the first problem it only checks
// syntax.
func (d *Decoder) dataField(b []byte, i int) (int, *Error) {
	sl := &d.slots[fieldData]
	*sl = slot{off: i, index: -1}
	d.data = d.data[:0] // an earlier "data" key loses
	switch b[i] {
	case '[':
	case 'n':
		sl.prob = problemNull
		return skipLiteral(b, i, "null")
	default:
		sl.prob = problemType
		return d.skipValue(b, i, 1)
	}
	data := d.data[:0]
	if i = skipSpace(b, i+1); i >= len(b) {
		return 0, syntaxError(b, i, "")
	}
	if b[i] == ']' {
		d.data = data
		sl.seen = true
		return i + 1, nil
	}
	prev := int64(math.MinInt64)
	room := data[:cap(data)]
	i, n, prev, end := smallValues(b, i, room, prev)
	if end > 0 {
		d.data = room[:n]
		sl.seen = true
		return end, nil
	}
	// At an element: after a delimiter, perhaps more whitespace.
	if i = skipSpace(b, i); i >= len(b) {
		return 0, syntaxError(b, i, "")
	}
	data = room[:n]
	ok := true
	for ; ; n++ {
		// At an element: b[i] exists and is not whitespace.
		if c := b[i]; c-'0' <= 9 || c == '-' {
			v, j, kind, err := scanNumber(b, i)
			if err != nil {
				return 0, err
			}
			if ok {
				if kind == numInt && v >= prev {
					data = append(data, v)
					prev = v
				} else {
					ok = false
					d.elementProblem(sl, i, j, n, kind, v, prev)
				}
			}
			i = j
		} else {
			j, err := d.skipValue(b, i, 2)
			if err != nil {
				return 0, err
			}
			if ok {
				ok = false
				sl.prob, sl.off, sl.end, sl.index = problemType, i, j, n
			}
			i = j
		}
		// At the delimiter; the common ", " and "," are taken first.
		if i < len(b) && b[i] == ',' {
			i++
			if i < len(b) && b[i] == ' ' {
				i++
			}
			if i < len(b) && b[i]-'0' <= 9 {
				continue
			}
			if i = skipSpace(b, i); i >= len(b) {
				return 0, syntaxError(b, i, "")
			}
			continue
		}
		if i = skipSpace(b, i); i >= len(b) {
			return 0, syntaxError(b, i, "")
		}
		switch b[i] {
		case ',':
			if i = skipSpace(b, i+1); i >= len(b) {
				return 0, syntaxError(b, i, "")
			}
		case ']':
			d.data = data // keep the grown buffer for the next record
			sl.seen = ok
			return i + 1, nil
		default:
			return 0, syntaxError(b, i, "after array element")
		}
	}
}

// smallValues reads the original workload's values (1..10) at the start of
// a data array, from b[i], an element: elements of one or two digits, each
// followed by "," or ", " or the closing "]", four one-digit ones and their
// commas at a time when they are there, else one element and what follows
// it. It writes them into room, checking that they ascend from prev, and
// returns the offset of the first element it did not take, how many it
// took, the last of them, and, if it read the whole array, the offset past
// its "]" (else 0). The first element it does not take in full (a longer
// number, a sign, a fraction, a value below the one before, other spacing,
// a leading zero) is left to dataField's general loop, which reads it
// again, and the rest of the array with it: an array of large values pays
// a few comparisons once, not a test per element. It stops when room is
// full (DecodeInto's caller gives room for every element): no append, and
// no call, in the loop.
func smallValues(b []byte, i int, room []int64, prev int64) (at, n int, last int64, end int) {
	for n < len(room) {
		// Four one-digit values and their commas ("1,1,2,3,") in one
		// 64-bit word, when they are there and ascend.
		if i+8 <= len(b) && n+4 <= len(room) {
			if x := binary.LittleEndian.Uint64(b[i:]); fourDigitsCommas(x) {
				d0, d1, d2, d3 := int64(x&0xF), int64(x>>16&0xF), int64(x>>32&0xF), int64(x>>48&0xF)
				if prev <= d0 && d0 <= d1 && d1 <= d2 && d2 <= d3 {
					room[n], room[n+1], room[n+2], room[n+3] = d0, d1, d2, d3
					n += 4
					prev = d3
					i += 8
					continue
				}
			}
		}
		var w uint32
		switch {
		case i+4 <= len(b):
			w = binary.LittleEndian.Uint32(b[i:])
		case i+3 <= len(b): // the last element, "9]}": b[i-1] is in the array
			w = binary.LittleEndian.Uint32(b[i-1:]) >> 8
		}
		c0, next, after := byte(w)-'0', byte(w>>8), byte(w>>16)
		if c0 > 9 || i+3 > len(b) {
			break
		}
		v, k := int64(c0), 1 // the element and its length
		if next-'0' <= 9 {
			if c0 == 0 {
				break
			}
			v, k, next, after = v*10+int64(next-'0'), 2, after, byte(w>>24)
		}
		if v < prev {
			break
		}
		room[n] = v
		if next == ']' {
			return i, n + 1, v, i + k + 1
		}
		if next != ',' {
			break
		}
		n++
		prev = v
		i += k + 1
		if after == ' ' {
			i++
		}
	}
	return i, n, prev, 0
}

// fourDigitsCommas reports whether the eight bytes of x (little-endian) are
// a digit and a comma four times over: the odd bytes commas, and each even
// byte's high nibble 3 with no carry out of its low one when 6 is added
// (as in eightDigits).
func fourDigitsCommas(x uint64) bool {
	const commas, odd, hi, six, threes = 0x2C002C002C002C00, 0xFF00FF00FF00FF00, 0x00F000F000F000F0, 0x0006000600060006, 0x0030003000300030
	e := x &^ odd
	return x&odd == commas && e&hi == threes && (e+six)&hi == threes
}

// elementProblem records the problem with data[n], the number b[i:j].
func (d *Decoder) elementProblem(sl *slot, i, j, n int, kind numKind, v, prev int64) {
	sl.off, sl.end, sl.index = i, j, n
	sl.element(kind, v, prev)
}

// element records what is wrong with a data element: a number of kind, or
// v going below prev.
func (sl *slot) element(kind numKind, v, prev int64) {
	switch kind {
	case numNotInt:
		sl.prob = problemNotInt
	case numOverflow:
		sl.prob = problemOverflow
	default:
		sl.prob, sl.v, sl.prev = problemUnsorted, v, prev
	}
}
