package wire

import "math"

// number reads the number at the next byte ('-' or a digit) a byte at a
// time, as scanNumber does, and keeps its start in s.tok.
func (s *OutputScanner) number() (int64, numKind, *Error) {
	s.tok = s.tok[:0]
	c, _ := s.peek()
	neg := c == '-'
	if neg {
		s.take(c)
		var ok bool
		if c, ok = s.peek(); !ok {
			return 0, 0, s.syntaxError("")
		}
	}
	var u uint64
	nd := 0
	switch {
	case c == '0':
		s.take(c)
	case c-'1' < 9:
		for ok := true; ok && c-'0' <= 9; c, ok = s.peek() {
			u = u*10 + uint64(c-'0')
			nd++
			s.take(c)
		}
	default:
		return 0, 0, s.syntaxError("in numeric literal")
	}
	if c, ok := s.peek(); ok && (c == '.' || c == 'e' || c == 'E') {
		return 0, numNotInt, s.fraction()
	}
	switch {
	case nd > 19:
		return 0, numOverflow, nil
	case neg && u > 1<<63:
		return 0, numOverflow, nil
	case neg:
		return -int64(u), numInt, nil
	case u > math.MaxInt64:
		return 0, numOverflow, nil
	}
	return int64(u), numInt, nil
}

// fraction reads the fraction and exponent of a number as scanFraction
// does, from the next byte ('.', 'e' or 'E').
func (s *OutputScanner) fraction() *Error {
	c, ok := s.peek()
	if c == '.' {
		s.take(c)
		if c, ok = s.peek(); !ok || c-'0' > 9 {
			return s.syntaxError("after decimal point in numeric literal")
		}
		for ; ok && c-'0' <= 9; c, ok = s.peek() {
			s.take(c)
		}
	}
	if ok && (c == 'e' || c == 'E') {
		s.take(c)
		if c, ok = s.peek(); ok && (c == '+' || c == '-') {
			s.take(c)
			c, ok = s.peek()
		}
		if !ok || c-'0' > 9 {
			return s.syntaxError("in exponent of numeric literal")
		}
		for ; ok && c-'0' <= 9; c, ok = s.peek() {
			s.take(c)
		}
	}
	return nil
}

// skipLiteral reads the literal lit at the next byte.
func (s *OutputScanner) skipLiteral(lit string) *Error {
	for k := 0; k < len(lit); k++ {
		if c, ok := s.peek(); !ok || c != lit[k] {
			return s.syntaxError("in literal " + lit + " (expecting " + quoteChar(lit[k]) + ")")
		}
		s.i++
	}
	return nil
}

// skipKey reads an object key, the colon after it and the whitespace after
// that, as skipKey does.
func (s *OutputScanner) skipKey() *Error {
	if c, ok := s.peek(); !ok || c != '"' {
		return s.syntaxError("looking for beginning of object key string")
	}
	if _, _, err := s.skipString(nil); err != nil {
		return err
	}
	if c, ok := s.peekValue(); !ok || c != ':' {
		return s.syntaxError("after object key")
	}
	s.i++
	if _, ok := s.peekValue(); !ok {
		return s.syntaxError("")
	}
	return nil
}

// skipScalar reads the string, number or literal at the next byte.
func (s *OutputScanner) skipScalar() *Error {
	switch c, _ := s.peek(); {
	case c == '"':
		_, _, err := s.skipString(nil)
		return err
	case c == '-' || c-'0' <= 9:
		_, _, err := s.number()
		return err
	case c == 't':
		return s.skipLiteral("true")
	case c == 'f':
		return s.skipLiteral("false")
	case c == 'n':
		return s.skipLiteral("null")
	}
	return s.syntaxError("looking for beginning of value")
}

// skipValue reads any value at the next byte (which exists and is not
// whitespace); depth is the number of objects and arrays around it.
func (s *OutputScanner) skipValue(depth int) *Error {
	if c, _ := s.peek(); c == '{' || c == '[' {
		return s.skipNested(depth)
	}
	return s.skipScalar()
}

// skipNested reads the object or array at the next byte as skipNested
// does, keeping in s.open whether each open container is an object.
func (s *OutputScanner) skipNested(depth int) *Error {
	base := depth
	for {
		// At a value: the next byte exists and is not whitespace.
		if c, _ := s.peek(); c == '{' || c == '[' {
			depth++
			if depth > maxDepth {
				return &Error{Reason: ReasonNotJSON, Offset: s.pos(), Msg: "exceeded max depth"}
			}
			n := depth - base - 1
			if c == '{' {
				s.open[n>>6] |= 1 << (n & 63)
			} else {
				s.open[n>>6] &^= 1 << (n & 63)
			}
			s.i++
			d, ok := s.peekValue()
			if !ok {
				return s.syntaxError("")
			}
			if d != c+2 { // '{'+2 == '}', '['+2 == ']'
				if c == '{' {
					if err := s.skipKey(); err != nil {
						return err
					}
				}
				continue
			}
			s.i++
			depth--
		} else if err := s.skipScalar(); err != nil {
			return err
		}
		// After a value: close containers until one has a next value.
		for {
			if depth == base {
				return nil
			}
			c, ok := s.peekValue()
			if !ok {
				return s.syntaxError("")
			}
			n := depth - base - 1
			obj := s.open[n>>6]&(1<<(n&63)) != 0
			if c == ',' {
				s.i++
				_, ok = s.peekValue()
				if obj {
					if err := s.skipKey(); err != nil {
						return err
					}
				} else if !ok {
					return s.syntaxError("")
				}
				break
			}
			if obj && c == '}' || !obj && c == ']' {
				s.i++
				depth--
				continue
			}
			if obj {
				return s.syntaxError("after object key:value pair")
			}
			return s.syntaxError("after array element")
		}
	}
}

// startSlot starts reading field f's value at the next byte, which it
// returns: a later occurrence of a key replaces an earlier one.
func (s *OutputScanner) startSlot(f field) (*slot, byte) {
	c, _ := s.peek()
	s.slots[f] = slot{off: s.pos(), index: -1}
	s.first[f] = c
	s.toks[f] = s.toks[f][:0]
	return &s.slots[f], c
}

// intField reads the integer field f as intField does.
func (s *OutputScanner) intField(f field, required bool) *Error {
	sl, c := s.startSlot(f)
	switch {
	case c == '-' || c-'0' <= 9:
		v, kind, err := s.number()
		if err != nil {
			return err
		}
		switch {
		case kind == numNotInt:
			sl.prob = problemNotInt
		case kind == numOverflow:
			sl.prob = problemOverflow
		case v < 0:
			sl.prob = problemNegative
		default:
			sl.v = v
			sl.seen = true
			return nil
		}
		s.toks[f] = append(s.toks[f], s.tok...)
		return nil
	case c == 'n':
		if required {
			sl.prob = problemNull
		}
		return s.skipLiteral("null")
	}
	sl.prob = problemType
	return s.skipValue(1)
}

// boolField reads the "last" field as boolField does.
func (s *OutputScanner) boolField() *Error {
	sl, c := s.startSlot(fieldLast)
	switch c {
	case 't':
		sl.seen, sl.flag = true, true
		return s.skipLiteral("true")
	case 'f':
		sl.seen, sl.flag = true, false
		return s.skipLiteral("false")
	case 'n':
		return s.skipLiteral("null")
	}
	sl.prob = problemType
	return s.skipValue(1)
}

// dataField reads the data array into f as dataField does into its buffer.
// It is the hot path: numbers are scanned in place in the buffer, a number
// that the buffer cuts is read again a byte at a time.
func (s *OutputScanner) dataField(f DataFolder) *Error {
	sl, c := s.startSlot(fieldData)
	f.Reset()
	switch c {
	case '[':
	case 'n':
		sl.prob = problemNull
		return s.skipLiteral("null")
	default:
		sl.prob = problemType
		return s.skipValue(1)
	}
	s.i++
	c, more := s.peekValue()
	if !more {
		return s.syntaxError("")
	}
	if c == ']' {
		s.i++
		sl.seen = true
		return nil
	}
	vals := s.vals[:0]
	prev := int64(math.MinInt64)
	ok := true
	for n := 0; ; n++ {
		// At an element: buf[i] is in the line and not whitespace.
		if c := s.buf[s.i]; c-'0' <= 9 || c == '-' {
			at := s.pos()
			w := s.buf[:s.end]
			v, j, kind, err := scanNumber(w, s.i)
			var tok []byte
			if !s.eol && (err == nil && j == len(w) || err != nil && err.Offset >= len(w)) {
				// The number may go on past the buffer.
				v, kind, err = s.number()
				tok = s.tok
			} else {
				if err != nil {
					err.Offset += s.base
					return err
				}
				tok = w[s.i:j]
				s.i = j
			}
			if err != nil {
				return err
			}
			if ok {
				if kind == numInt && v >= prev {
					if len(vals) == cap(vals) {
						f.Add(vals)
						vals = vals[:0]
					}
					vals = append(vals, v)
					prev = v
				} else {
					ok = false
					s.badNumber(sl, at, n, tok, kind, v, prev)
				}
			}
		} else if err := s.notNumber(sl, &ok, n); err != nil {
			return err
		}
		// At the delimiter; the common ", " and "," are taken first.
		if s.i < s.end && s.buf[s.i] == ',' {
			s.i++
			if s.i < s.end && s.buf[s.i] == ' ' {
				s.i++
			}
			if s.i < s.end && s.buf[s.i]-'0' <= 9 {
				continue
			}
			if _, more = s.peekValue(); !more {
				return s.syntaxError("")
			}
			continue
		}
		if c, more = s.peekValue(); !more {
			return s.syntaxError("")
		}
		switch c {
		case ',':
			s.i++
			if _, more = s.peekValue(); !more {
				return s.syntaxError("")
			}
		case ']':
			s.i++
			if ok && len(vals) > 0 {
				f.Add(vals)
			}
			sl.seen = ok
			return nil
		default:
			return s.syntaxError("after array element")
		}
	}
}

// badNumber notes in sl that the data array's element n, at offset at, is
// a number but not one that goes on the array (not an integer, or below
// prev); tok is its text.
func (s *OutputScanner) badNumber(sl *slot, at, n int, tok []byte, kind numKind, v, prev int64) {
	sl.off, sl.index = at, n
	s.toks[fieldData] = append(s.toks[fieldData], tok[:min(len(tok), tokenKeep)]...)
	sl.element(kind, v, prev)
}

// notNumber skips the data array's element n, at buf[i], which is not a
// number, and notes in sl (unless *ok is already false) that the array is
// of the wrong type.
func (s *OutputScanner) notNumber(sl *slot, ok *bool, n int) *Error {
	at, c := s.pos(), s.buf[s.i]
	if err := s.skipValue(2); err != nil {
		return err
	}
	if *ok {
		*ok = false
		sl.prob, sl.off, sl.index = problemType, at, n
		s.first[fieldData] = c
	}
	return nil
}
