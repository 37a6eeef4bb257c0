package wire

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// The encoders append to a caller's buffer and return it, as strconv's
// Append functions do. They allocate only when dst must grow. They write
// what the decoder reads back, with no whitespace; they do not check that
// the values obey the record's rules (ids >= 0, data sorted).

// AppendSegment appends s as an input record:
//
//	{"batch_id":7,"segment_id":3,"segments":10,"chunk":0,"last":false,"data":[1,2,2,9]}
//
// "segments" is written only when s.Segments > 0, and "chunk" and "last"
// only when the record is not a whole one-chunk segment (s.Chunk != 0 or
// !s.Last). Keys come in the order shown.
func AppendSegment(dst []byte, s *Segment) []byte {
	dst = append(dst, `{"batch_id":`...)
	dst = appendInt(dst, s.BatchID)
	dst = append(dst, `,"segment_id":`...)
	dst = appendInt(dst, s.SegmentID)
	if s.Segments > 0 {
		dst = append(dst, `,"segments":`...)
		dst = appendInt(dst, s.Segments)
	}
	if !s.Whole() {
		dst = appendChunk(dst, s.Chunk, s.Last)
	}
	dst = append(dst, `,"data":[`...)
	dst = AppendInts(dst, s.Data, true)
	return append(dst, "]}"...)
}

// AppendOutputStart appends the head of an output record, up to the first
// value: {"batch_id":7,"data":[
//
// Follow it with AppendInts calls and one AppendOutputEnd.
func AppendOutputStart(dst []byte, batchID int64) []byte {
	dst = append(dst, `{"batch_id":`...)
	dst = appendInt(dst, batchID)
	return append(dst, `,"data":[`...)
}

// AppendOutputChunkStart appends the head of an output record that holds
// chunk number chunk of a batch split over several records:
// {"batch_id":7,"chunk":0,"last":false,"data":[
func AppendOutputChunkStart(dst []byte, batchID, chunk int64, last bool) []byte {
	dst = append(dst, `{"batch_id":`...)
	dst = appendInt(dst, batchID)
	dst = appendChunk(dst, chunk, last)
	return append(dst, `,"data":[`...)
}

// AppendOutputEnd appends the tail of an output record: ]}
// The newline after it, if any, is the caller's.
func AppendOutputEnd(dst []byte) []byte {
	return append(dst, "]}"...)
}

// AppendInts appends vals in decimal, separated by commas. When first is
// false, the values continue a list already started, so a comma comes before
// the first of them too (if vals is not empty).
func AppendInts(dst []byte, vals []int64, first bool) []byte {
	if len(vals) == 0 {
		return dst
	}
	if first {
		dst = appendInt(dst, vals[0])
		vals = vals[1:]
	}
	// Room for a block of values is made once, and each value's digits
	// are written in place: no append per byte, no copy per value.
	const block = 512
	for len(vals) > 0 {
		k := min(block, len(vals))
		n := len(dst)
		dst = slices.Grow(dst, k*maxIntLen)
		b := dst[:cap(dst)]
		// Values from 0 to 99 (the original workload's 1..10) are
		// written here, without a call, until the first that is not;
		// that one and the rest of the block take putInt. Merged values
		// ascend, so a block changes loops once at most, and a block of
		// large values leaves the first loop at its first value.
		i := 0
		for i < k {
			if i+4 <= k { // four one-digit values, with their commas, in one store
				u0, u1, u2, u3 := uint64(vals[i]), uint64(vals[i+1]), uint64(vals[i+2]), uint64(vals[i+3])
				if u0 < 10 && u1 < 10 && u2 < 10 && u3 < 10 {
					binary.LittleEndian.PutUint64(b[n:], 0x302C302C302C302C|u0<<8|u1<<24|u2<<40|u3<<56)
					n += 8
					i += 4
					continue
				}
			}
			u := uint64(vals[i])
			if u >= 100 {
				break
			}
			b[n] = ','
			if u < 10 {
				b[n+1] = byte('0' + u)
				n += 2
			} else {
				b[n+1], b[n+2] = pairs[2*u], pairs[2*u+1]
				n += 3
			}
			i++
		}
		for _, v := range vals[i:k] {
			b[n] = ','
			n = putInt(b, n+1, v)
		}
		dst, vals = b[:n], vals[k:]
	}
	return dst
}

// AppendCounted appends, as AppendInts does, the ascending values that
// counts describe: lo+d, counts[d] times, for each d (see
// merge.Packed.Counts). No value is converted more than once: a one-digit
// value is stored four at a time with its commas in one 64-bit word,
// another is rendered once and copied.
func AppendCounted(dst []byte, lo int64, counts []uint32, first bool) []byte {
	return appendCounted(dst, lo, counts, ',', first)
}

// AppendTextCounted appends, as AppendTextInts does, the ascending values
// that counts describe (see AppendCounted).
func AppendTextCounted(dst []byte, lo int64, counts []uint32) []byte {
	return appendCounted(dst, lo, counts, ' ', false)
}

// appendCounted appends the values counts describe, each preceded by sep,
// but for the very first when first is true. Room for exactly what it
// writes, and 8 bytes more, is made once.
func appendCounted(dst []byte, lo int64, counts []uint32, sep byte, first bool) []byte {
	var one [maxIntLen]byte // sep and a value's digits
	one[0] = sep
	need := 0
	if hi := lo + int64(len(counts)) - 1; lo >= 0 && hi < 10 {
		for _, k := range counts {
			need += 2 * int(k) // one digit each
		}
	} else {
		for d, k := range counts {
			if k > 0 {
				need += int(k) * putInt(one[:], 1, lo+int64(d))
			}
		}
	}
	if need == 0 {
		return dst
	}
	n := len(dst)
	dst = slices.Grow(dst, need+8) // 8: a word's overshoot, below
	b := dst[:cap(dst)]
	for d, k := range counts {
		if k == 0 {
			continue
		}
		v := lo + int64(d)
		if first {
			n = putInt(b, n, v)
			first = false
			if k--; k == 0 {
				continue
			}
		}
		if uint64(v) < 10 {
			// sep and digit, four times in a word; the last word
			// may pass the values' end, into the room made for it.
			w := (uint64(sep) | uint64('0'+v)<<8) * 0x0001000100010001
			for i := 0; i < int(k); i += 4 {
				binary.LittleEndian.PutUint64(b[n+2*i:], w)
			}
			n += 2 * int(k)
			continue
		}
		// Written once, then copied over itself, doubling.
		w := putInt(one[:], 1, v)
		end := n + int(k)*w
		for m := n + copy(b[n:], one[:w]); m < end; {
			m += copy(b[m:end], b[n:m])
		}
		n = end
	}
	return b[:n]
}

// AppendTextStart appends the head of the human form of a batch: batch 7:
// The values follow with AppendTextInts.
func AppendTextStart(dst []byte, batchID int64) []byte {
	dst = append(dst, "batch "...)
	dst = appendInt(dst, batchID)
	return append(dst, ':')
}

// AppendTextInts appends vals in decimal, each preceded by a space: " 1 1 2 9".
func AppendTextInts(dst []byte, vals []int64) []byte {
	for _, v := range vals {
		dst = append(dst, ' ')
		dst = appendInt(dst, v)
	}
	return dst
}

// appendChunk appends the "chunk" and "last" members, comma first.
func appendChunk(dst []byte, chunk int64, last bool) []byte {
	dst = append(dst, `,"chunk":`...)
	dst = appendInt(dst, chunk)
	if last {
		return append(dst, `,"last":true`...)
	}
	return append(dst, `,"last":false`...)
}

// pairs holds "00" to "99", so appendInt writes two digits per division.
const pairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// maxIntLen is the most bytes putInt writes for an int64, plus a comma.
const maxIntLen = 21

// appendInt appends v in decimal. It does what strconv.AppendInt(dst, v, 10)
// does, without the base dispatch; see BenchmarkAppendInts for the measure.
func appendInt(dst []byte, v int64) []byte {
	n := len(dst)
	dst = slices.Grow(dst, maxIntLen)
	return dst[:putInt(dst[:cap(dst)], n, v)]
}

// putInt writes v in decimal into b at n, which must have room for 20 bytes,
// and returns the index after it. It counts the digits first, so that each
// pair of digits lands in its place as it is computed.
func putInt(b []byte, n int, v int64) int {
	if uint64(v) < 10 {
		b[n] = byte('0' + v)
		return n + 1
	}
	u := uint64(v)
	if v < 0 {
		b[n] = '-'
		n++
		u = -u // MinInt64 too: its magnitude fits a uint64
	}
	if u >= 1e7 {
		// The last eight digits at once; what is above them, first.
		if hi := u / 1e8; hi > 0 {
			if hi < 10 {
				b[n] = byte('0' + hi)
				n++
			} else {
				n = putUint(b, n, hi)
			}
			u -= hi * 1e8
		}
		binary.LittleEndian.PutUint64(b[n:], eightASCII(u))
		return n + 8
	}
	return putUint(b, n, u)
}

// putUint writes u in decimal into b at n, two digits at a time from the
// right, and returns the index after it. putInt, its only caller, passes a
// value below 1e7, or what lies above a value's last eight digits (below
// 1e11: an int64 has 19 digits at most).
func putUint(b []byte, n int, u uint64) int {
	if u >= 1e8 {
		return putInt(b, n, int64(u)) // a value of 17 to 19 digits: eight more at once
	}
	end := n + digits(u)
	d := b[n:end]
	i := len(d)
	for u >= 100 {
		q := u / 100
		r := (u - q*100) * 2
		i -= 2
		d[i], d[i+1] = pairs[r], pairs[r+1]
		u = q
	}
	if u >= 10 {
		d[i-2], d[i-1] = pairs[u*2], pairs[u*2+1]
	} else {
		d[i-1] = byte('0' + u)
	}
	return end
}

// eightASCII returns the eight decimal digits of u < 1e8, leading zeros
// included, as the bytes of a little-endian uint64 (the first digit in the
// lowest byte): u is split in two halves of four digits, each half in two
// pairs, each pair in two digits, every split one multiply over all the
// lanes at once (division by 100 as *5243>>19, by 10 as *103>>10, exact
// for the values they meet).
func eightASCII(u uint64) uint64 {
	x := u/10000 | (u%10000)<<32               // two 4-digit halves, in 32-bit lanes
	q := (x * 5243 >> 19) & 0x0000007F0000007F // each half / 100
	x = q | (x-q*100)<<16                      // four 2-digit pairs, in 16-bit lanes
	q = (x * 103 >> 10) & 0x000F000F000F000F   // each pair / 10
	x = q | (x-q*10)<<8                        // eight digits, in bytes
	return x + 0x3030303030303030
}

// digits is the number of decimal digits of u (1 for 0): log10 estimated
// from the bit length (1233/4096 is just over log10(2)), then corrected.
func digits(u uint64) int {
	t := bits.Len64(u) * 1233 >> 12
	if u >= pow10[t] {
		t++
	}
	return max(t, 1)
}

var pow10 = [20]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}
