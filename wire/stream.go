package wire

import (
	"bytes"
	"errors"
	"io"
)

// DataFolder takes in the data array of an output record as an
// OutputScanner reads it, so that the array is never held whole.
type DataFolder interface {
	// Reset starts a data array. A record whose "data" key occurs more
	// than once resets the folder at each; the last one counts, as in
	// DecodeOutput.
	Reset()
	// Add takes the next values of the array, in order: non-decreasing, and
	// not below the values of earlier calls since Reset. vals is valid only
	// during the call.
	Add(vals []int64)
}

// OutputScanner reads output records, one a line, from an io.Reader, in a
// buffer of fixed size however long a line is: a merged batch of ten
// million integers is one line of about 100 MB, and the scanner hands its
// data array to a DataFolder a run at a time instead of holding it.
//
// # Lines
//
// A line is what bufio.ScanLines makes of the input: the bytes up to a
// newline or the end of the input, less one carriage return before the
// newline. Each line is judged exactly as DecodeOutput judges the same
// bytes, down to the *Error it returns (reason, field, byte offset in the
// line, message); the package's tests hold the two to that. A record that
// fails may already have handed values to the folder: they count only when
// Scan returns nil.
//
// # Cost
//
// One pass over the bytes, O(1) memory in the line's length: the buffer, a
// run of 1024 values, and 1.3 KB for the nesting of skipped values. Scan
// allocates only to report a bad line.
type OutputScanner struct {
	r   io.Reader
	err error // sticky: io.EOF once the input has ended, or the read error

	// buf[i:end] is the part of the current line in the buffer not yet
	// read; buf[end:n] is what was read past it: the rest of the input
	// when eol, else at most a carriage return held back until the byte
	// after it shows whether it ends the line.
	buf  []byte
	i    int
	end  int
	n    int
	eol  bool // the line ends at end
	nl   bool // with eol, a newline ends it (not the end of the input)
	next int  // with eol, where the next line starts in buf
	base int  // offset in the line of buf[0], so that i's is base+i
	line int64

	vals  []int64 // values read but not yet handed to the folder
	slots [numFields]slot
	first [numFields]byte   // the first byte of each slot's offending value
	toks  [numFields][]byte // the start of each slot's offending token
	tok   []byte            // the start of the number just read
	open  [(maxDepth + 63) / 64]uint64
}

// minScanBuffer is the smallest buffer an OutputScanner uses.
const minScanBuffer = 16

// tokenKeep is how much of an offending token is kept for the message: one
// byte more than tokenText shows, so that it knows to add "...".
const tokenKeep = 41

// maxKeyBody is the longest key body (the bytes between the quotes) that
// may name a field: each byte of a field name takes at most six, as a \u
// escape, and no name is longer than 16 bytes (see lookup).
const maxKeyBody = 6 * 16

// NewOutputScanner returns a scanner of the output records in r that reads
// through a buffer of size bytes (at least 16; 64 KiB and up read fast).
func NewOutputScanner(r io.Reader, size int) *OutputScanner {
	s := &OutputScanner{
		r:    r,
		buf:  make([]byte, max(size, minScanBuffer)),
		vals: make([]int64, 0, 1024),
		tok:  make([]byte, 0, tokenKeep),
	}
	for f := range s.toks {
		s.toks[f] = make([]byte, 0, tokenKeep)
	}
	return s
}

// Reset makes s read r from the start, keeping its buffers.
func (s *OutputScanner) Reset(r io.Reader) {
	s.r, s.err = r, nil
	s.i, s.end, s.n, s.eol, s.nl, s.next, s.base, s.line = 0, 0, 0, false, false, 0, 0, 0
}

// Line returns the number of the line the last Scan read, from 1.
func (s *OutputScanner) Line() int64 { return s.line }

// Scan reads the next line as an output record and returns its batch id,
// chunk and last flag (Data is nil: the values went to f, which must not be
// nil). It returns
//
//   - nil: the line is a valid record, and f has taken its data;
//   - an *Error: the line is not one (as DecodeOutput would say); the
//     scanner has moved past it, and Scan may be called again;
//   - io.EOF: there are no more lines;
//   - any other error: reading failed, at this line or before it (lines
//     read whole before the failure are scanned first); it is sticky.
func (s *OutputScanner) Scan(f DataFolder) (Segment, error) {
	if !s.startLine() {
		return Segment{}, s.err
	}
	seg, perr := s.record(f)
	for !s.eol { // skip what the record left of the line
		s.i = s.end
		s.more()
	}
	s.i = s.next
	if !s.nl && s.err != io.EOF {
		return Segment{}, s.err // the failed read cut the line
	}
	if perr != nil {
		return Segment{}, perr
	}
	return seg, nil
}

// startLine moves to the next line and reports whether there is one: any
// byte left in the input makes one, as with bufio.ScanLines.
func (s *OutputScanner) startLine() bool {
	if s.i == s.n {
		s.i, s.n = 0, 0
		s.read()
		if s.n == 0 {
			return false
		}
	}
	s.line++
	s.base = -s.i
	s.window()
	return true
}

// read reads into buf[n:], retrying an empty read as bufio does. It does
// nothing once a read has failed or the input has ended.
func (s *OutputScanner) read() {
	for tries := 0; s.err == nil; tries++ {
		m, err := s.r.Read(s.buf[s.n:])
		if m < 0 || m > len(s.buf)-s.n {
			m, err = 0, errors.New("wire: reader returned an invalid count")
		}
		s.n += m
		if err != nil {
			s.err = err
		} else if m > 0 {
			return
		} else if tries == 100 {
			s.err = io.ErrNoProgress
		}
	}
}

// window sets end, eol, nl and next for the bytes in buf[i:n].
func (s *OutputScanner) window() {
	if j := bytes.IndexByte(s.buf[s.i:s.n], '\n'); j >= 0 {
		s.end, s.next, s.eol, s.nl = s.i+j, s.i+j+1, true, true
	} else {
		s.end, s.next, s.eol, s.nl = s.n, s.n, s.err != nil, false
	}
	// A carriage return before the newline is not part of the line; one
	// at the end of the buffer waits for the next read to tell.
	if s.end > s.i && s.buf[s.end-1] == '\r' {
		s.end--
	}
}

// more reads on when the window is used up and the line goes on, and
// reports whether the line has an unread byte.
func (s *OutputScanner) more() bool {
	for s.i == s.end && !s.eol {
		// buf[i:n] is at most a held-back carriage return.
		k := copy(s.buf, s.buf[s.i:s.n])
		s.base += s.i
		s.i, s.n = 0, k
		s.read()
		s.window()
	}
	return s.i < s.end
}

// pos is the offset in the line of the next byte.
func (s *OutputScanner) pos() int { return s.base + s.i }

// peek returns the next byte of the line, or false at its end.
func (s *OutputScanner) peek() (byte, bool) {
	if s.i < s.end || s.more() {
		return s.buf[s.i], true
	}
	return 0, false
}

// peekValue skips whitespace and peeks.
func (s *OutputScanner) peekValue() (byte, bool) {
	for {
		c, ok := s.peek()
		if !ok || !isSpace(c) {
			return c, ok
		}
		s.i++
	}
}

// syntaxError is syntaxError for the stream: about the next byte, or the
// end of the line.
func (s *OutputScanner) syntaxError(what string) *Error {
	c, ok := s.peek()
	if !ok {
		return &Error{Reason: ReasonNotJSON, Offset: s.pos(), Msg: "unexpected end of input"}
	}
	return &Error{Reason: ReasonNotJSON, Offset: s.pos(), Msg: "invalid character " + quoteChar(c) + " " + what}
}

// record reads one record as Decoder.decode does in output mode.
func (s *OutputScanner) record(f DataFolder) (Segment, *Error) {
	for k := range s.slots {
		s.slots[k] = slot{index: -1}
	}
	c, ok := s.peekValue()
	if !ok {
		return Segment{}, s.syntaxError("")
	}
	if c != '{' {
		at := s.pos()
		if err := s.skipValue(0); err != nil {
			return Segment{}, err
		}
		if _, ok := s.peekValue(); ok {
			return Segment{}, s.syntaxError("after top-level value")
		}
		return Segment{}, &Error{Reason: ReasonNotJSON, Offset: at, Msg: "top level is not an object"}
	}
	s.i++
	if c, ok = s.peekValue(); !ok {
		return Segment{}, s.syntaxError("")
	}
	if c != '}' {
		for {
			if c != '"' {
				return Segment{}, s.syntaxError("looking for beginning of object key string")
			}
			fld, err := s.key()
			if err != nil {
				return Segment{}, err
			}
			if c, ok = s.peekValue(); !ok || c != ':' {
				return Segment{}, s.syntaxError("after object key")
			}
			s.i++
			if _, ok = s.peekValue(); !ok {
				return Segment{}, s.syntaxError("")
			}
			switch fld {
			case fieldData:
				err = s.dataField(f)
			case fieldLast:
				err = s.boolField()
			case fieldUnknown:
				err = s.skipValue(1)
			default:
				err = s.intField(fld, fld == fieldBatchID)
			}
			if err != nil {
				return Segment{}, err
			}
			if c, ok = s.peekValue(); !ok {
				return Segment{}, s.syntaxError("")
			}
			if c == '}' {
				break
			}
			if c != ',' {
				return Segment{}, s.syntaxError("after object key:value pair")
			}
			s.i++
			if c, ok = s.peekValue(); !ok {
				return Segment{}, s.syntaxError("")
			}
		}
	}
	closing := s.pos()
	s.i++
	if _, ok := s.peekValue(); ok {
		return Segment{}, s.syntaxError("after top-level value")
	}
	return s.finish(closing)
}

// key reads the object key at the next byte ('"') and returns the field it
// names.
func (s *OutputScanner) key() (field, *Error) {
	var body [maxKeyBody]byte
	n, escaped, err := s.skipString(body[:])
	if err != nil {
		return 0, err
	}
	if n > len(body) {
		return fieldUnknown, nil
	}
	return lookup(body[:n], escaped, true), nil
}

// skipString reads the string at the next byte ('"') as skipString does.
// It copies the start of the body into keep and returns the body's length
// and whether it holds any escape.
func (s *OutputScanner) skipString(keep []byte) (int, bool, *Error) {
	escaped := false
	n := 0
	s.i++
	for {
		c, ok := s.peek()
		if !ok {
			return 0, false, s.syntaxError("")
		}
		if c == '"' {
			s.i++
			return n, escaped, nil
		}
		if c < 0x20 {
			return 0, false, s.syntaxError("in string literal")
		}
		if n < len(keep) {
			keep[n] = c
		}
		n++
		s.i++
		if c != '\\' {
			continue
		}
		escaped = true
		if c, ok = s.peek(); !ok {
			return 0, false, s.syntaxError("")
		}
		switch c {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			for k := 0; k < 4; k++ {
				if n < len(keep) {
					keep[n] = c
				}
				n++
				s.i++
				if c, ok = s.peek(); !ok {
					return 0, false, s.syntaxError("")
				}
				if !isHex(c) {
					return 0, false, s.syntaxError(`in \u hexadecimal character escape`)
				}
			}
		default:
			return 0, false, s.syntaxError("in string escape code")
		}
		if n < len(keep) {
			keep[n] = c
		}
		n++
		s.i++
	}
}

// take moves past the byte c of the number being read, keeping its start.
func (s *OutputScanner) take(c byte) {
	if len(s.tok) < tokenKeep {
		s.tok = append(s.tok, c)
	}
	s.i++
}

// finish checks the record as a whole, as Decoder.finish does in output
// mode. closing is the offset of the record's closing brace.
func (s *OutputScanner) finish(closing int) (Segment, *Error) {
	worst := fieldUnknown
	for f := range numFields {
		if s.slots[f].prob != problemNone && (worst == fieldUnknown || s.slots[f].off < s.slots[worst].off) {
			worst = f
		}
	}
	if worst != fieldUnknown {
		return Segment{}, problemError(worst, &s.slots[worst], s.first[worst], s.toks[worst])
	}
	for _, f := range [...]field{fieldBatchID, fieldData} {
		if !s.slots[f].seen {
			return Segment{}, &Error{Reason: ReasonMissing, Field: fieldNames[f], Offset: closing, Msg: "required field is absent"}
		}
	}
	out := Segment{BatchID: s.slots[fieldBatchID].v, Chunk: s.slots[fieldChunk].v, Last: true}
	if s.slots[fieldLast].seen {
		out.Last = s.slots[fieldLast].flag
	}
	return out, nil
}
