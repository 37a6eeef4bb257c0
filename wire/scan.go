package wire

// This file is the JSON scanner: whitespace, strings, numbers, literals and
// the skipping of values the decoder does not read. Every function takes the
// record and an offset and returns the offset just past what it read, or a
// ReasonNotJSON *Error. None of them allocates unless it fails.

import (
	"encoding/binary"
	"math"
)

// maxDepth is the deepest nesting of objects and arrays accepted, the top
// level object included. It is encoding/json's limit, so that both agree on
// which records are JSON.
const maxDepth = 10000

// isSpace reports whether c is JSON whitespace.
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// skipSpace returns the offset of the first non-whitespace byte at or after i.
// JSON's whitespace all lies at or below ' ', so most bytes take one test.
func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return c-'0' < 10 || (c|0x20)-'a' < 6
}

// hexVal returns the value of the hexadecimal digit c.
func hexVal(c byte) rune {
	if c <= '9' {
		return rune(c - '0')
	}
	return rune((c|0x20)-'a') + 10
}

// skipString reads the string starting at b[i] == '"'. It returns the offset
// past the closing quote and whether the string holds any escape. Invalid
// UTF-8 is accepted, as encoding/json accepts it; control bytes are not.
func skipString(b []byte, i int) (int, bool, *Error) {
	escaped := false
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return 0, false, syntaxError(b, len(b), "")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) {
						return 0, false, syntaxError(b, len(b), "")
					}
					if !isHex(b[k]) {
						return 0, false, syntaxError(b, k, `in \u hexadecimal character escape`)
					}
				}
				i += 6
			default:
				return 0, false, syntaxError(b, i+1, "in string escape code")
			}
		case c < 0x20:
			return 0, false, syntaxError(b, i, "in string literal")
		default:
			i++
		}
	}
	return 0, false, syntaxError(b, len(b), "")
}

// unescapeKey writes the ASCII text of the escaped, syntactically valid
// string body s into buf. It reports false when the text is longer than buf
// or not all ASCII: such a key cannot name a field the decoder reads.
func unescapeKey(s []byte, buf []byte) ([]byte, bool) {
	n := 0
	for i := 0; i < len(s); {
		if n == len(buf) {
			return nil, false
		}
		c := s[i]
		if c != '\\' {
			if c >= 0x80 {
				return nil, false
			}
			buf[n] = c
			n++
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'u':
			r := hexVal(s[i+2])<<12 | hexVal(s[i+3])<<8 | hexVal(s[i+4])<<4 | hexVal(s[i+5])
			if r >= 0x80 {
				return nil, false
			}
			buf[n] = byte(r)
			n++
			i += 6
			continue
		default: // '"', '\\', '/'
			c = s[i+1]
		}
		buf[n] = c
		n++
		i += 2
	}
	return buf[:n], true
}

// numKind classifies a syntactically valid JSON number.
type numKind uint8

const (
	numInt      numKind = iota // an integer that fits int64
	numNotInt                  // has a fraction or an exponent
	numOverflow                // an integer outside int64
)

// scanNumber reads the JSON number starting at b[i], which is '-' or a digit.
// It returns the value (when kind is numInt), the offset past the number and
// its kind. A leading zero followed by a digit ends the number after the
// zero; the caller then finds the digit where it wants a delimiter.
func scanNumber(b []byte, i int) (int64, int, numKind, *Error) {
	neg := false
	if b[i] == '-' {
		neg = true
		i++
		if i >= len(b) {
			return 0, 0, 0, syntaxError(b, i, "")
		}
	}
	var u uint64
	nd := 0
	switch c := b[i]; {
	case c == '0':
		i++
	case c-'1' < 9:
		start := i
		// Eight digits at a time while eight are there: a large value
		// (0..1e9 in the bulk shape) is mostly one such step.
		for i+8 <= len(b) && b[i+1]-'0' <= 9 { // (short values skip it at once)
			x := binary.LittleEndian.Uint64(b[i:])
			if !eightDigits(x) {
				break
			}
			u = u*1e8 + parseEight(x) // past 19 digits u wraps; nd says overflow below
			i += 8
		}
		for i < len(b) {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			u = u*10 + uint64(d)
			i++
		}
		nd = i - start
	default:
		return 0, 0, 0, syntaxError(b, i, "in numeric literal")
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		j, err := scanFraction(b, i)
		return 0, j, numNotInt, err
	}
	// Nineteen decimal digits always fit a uint64; more never fit an int64.
	switch {
	case nd > 19:
		return 0, i, numOverflow, nil
	case neg && u > 1<<63:
		return 0, i, numOverflow, nil
	case neg:
		return -int64(u), i, numInt, nil // u == 1<<63 wraps to MinInt64, as wanted
	case u > math.MaxInt64:
		return 0, i, numOverflow, nil
	}
	return int64(u), i, numInt, nil
}

// eightDigits reports whether the eight bytes of x (little-endian) are all
// ASCII digits: each byte's high nibble is 3, and adding 6 to it does not
// carry into the high nibble (so its low nibble is at most 9).
func eightDigits(x uint64) bool {
	const hi, six, threes = 0xF0F0F0F0F0F0F0F0, 0x0606060606060606, 0x3333333333333333
	return (x&hi)|((x+six)&hi)>>4 == threes
}

// parseEight returns the value of the eight ASCII digits in x, the first in
// its lowest byte: pairs of digits are combined, then pairs of pairs, then
// the two halves, each step one multiply over every lane at once.
func parseEight(x uint64) uint64 {
	x -= 0x3030303030303030
	x = (x*10 + x>>8) & 0x00FF00FF00FF00FF        // 2-digit values in bytes 0, 2, 4, 6
	x = (x*100 + x>>16) & 0x0000FFFF0000FFFF      // 4-digit values in the low halves of each 32 bits
	return (x*10000 + x>>32) & 0x00000000FFFFFFFF // 8 digits
}

// scanFraction reads the fraction and exponent parts of a number, starting at
// b[i], which is '.', 'e' or 'E'.
func scanFraction(b []byte, i int) (int, *Error) {
	if b[i] == '.' {
		i++
		if i >= len(b) || b[i]-'0' > 9 {
			return 0, syntaxError(b, i, "after decimal point in numeric literal")
		}
		for i < len(b) && b[i]-'0' <= 9 {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i]-'0' > 9 {
			return 0, syntaxError(b, i, "in exponent of numeric literal")
		}
		for i < len(b) && b[i]-'0' <= 9 {
			i++
		}
	}
	return i, nil
}

// skipLiteral reads the literal lit ("true", "false" or "null") at b[i].
func skipLiteral(b []byte, i int, lit string) (int, *Error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) || b[i+k] != lit[k] {
			return 0, syntaxError(b, i+k, "in literal "+lit+" (expecting "+quoteChar(lit[k])+")")
		}
	}
	return i + len(lit), nil
}

// skipKey reads an object key at b[i] (after whitespace), the colon after it
// and the whitespace after that. It returns the offset of the value.
func skipKey(b []byte, i int) (int, *Error) {
	if i >= len(b) || b[i] != '"' {
		return 0, syntaxError(b, i, "looking for beginning of object key string")
	}
	i, _, err := skipString(b, i)
	if err != nil {
		return 0, err
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return 0, syntaxError(b, i, "after object key")
	}
	i = skipSpace(b, i+1)
	if i >= len(b) {
		return 0, syntaxError(b, i, "")
	}
	return i, nil
}

// skipScalar reads the string, number or literal at b[i].
func skipScalar(b []byte, i int) (int, *Error) {
	switch c := b[i]; {
	case c == '"':
		j, _, err := skipString(b, i)
		return j, err
	case c == '-' || c-'0' <= 9:
		_, j, _, err := scanNumber(b, i)
		return j, err
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	}
	return 0, syntaxError(b, i, "looking for beginning of value")
}

// skipValue reads any JSON value at b[i] (i < len(b), no leading space).
// depth is the number of objects and arrays around it.
func (d *Decoder) skipValue(b []byte, i, depth int) (int, *Error) {
	if c := b[i]; c == '{' || c == '[' {
		return d.skipNested(b, i, depth)
	}
	return skipScalar(b, i)
}

// skipNested reads the object or array at b[i] and everything inside it,
// without recursion: d.open records, one bit a level, whether each open
// container is an object.
func (d *Decoder) skipNested(b []byte, i, depth int) (int, *Error) {
	base := depth
	for {
		// At a value: b[i] exists and is not whitespace.
		if c := b[i]; c == '{' || c == '[' {
			depth++
			if depth > maxDepth {
				return 0, &Error{Reason: ReasonNotJSON, Offset: i, Msg: "exceeded max depth"}
			}
			d.setOpen(depth-base-1, c == '{')
			end := c + 2 // '{'+2 == '}', '['+2 == ']'
			i = skipSpace(b, i+1)
			if i >= len(b) {
				return 0, syntaxError(b, i, "")
			}
			if b[i] != end {
				if c == '{' {
					j, err := skipKey(b, i)
					if err != nil {
						return 0, err
					}
					i = j
				}
				continue
			}
			i++
			depth--
		} else {
			j, err := skipScalar(b, i)
			if err != nil {
				return 0, err
			}
			i = j
		}
		// After a value: close containers until one has a next value.
		for {
			if depth == base {
				return i, nil
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, syntaxError(b, i, "")
			}
			obj := d.isOpenObject(depth - base - 1)
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if obj {
					j, err := skipKey(b, i)
					if err != nil {
						return 0, err
					}
					i = j
				} else if i >= len(b) {
					return 0, syntaxError(b, i, "")
				}
				break
			}
			if obj && b[i] == '}' || !obj && b[i] == ']' {
				i++
				depth--
				continue
			}
			if obj {
				return 0, syntaxError(b, i, "after object key:value pair")
			}
			return 0, syntaxError(b, i, "after array element")
		}
	}
}

// setOpen records whether the container at level n (from 0) is an object.
func (d *Decoder) setOpen(n int, obj bool) {
	if obj {
		d.open[n>>6] |= 1 << (n & 63)
	} else {
		d.open[n>>6] &^= 1 << (n & 63)
	}
}

// isOpenObject reports whether the container at level n is an object.
func (d *Decoder) isOpenObject(n int) bool {
	return d.open[n>>6]&(1<<(n&63)) != 0
}
