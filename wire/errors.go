package wire

import "strconv"

// Reason codes name the class of an [Error]. They are stable: the consumer
// puts them in the header of a dead-letter record, and operators match on them.
const (
	// ReasonNotJSON: the record is not one valid JSON object. Any syntax
	// error anywhere (trailing garbage included) or a top level that is not
	// an object.
	ReasonNotJSON = "not-json"
	// ReasonMissing: a required field is absent or null.
	ReasonMissing = "missing-field"
	// ReasonType: a field holds the wrong kind of JSON value (data not an
	// array, batch_id a string, last not a boolean, a data element that is
	// not a number).
	ReasonType = "wrong-type"
	// ReasonNotInteger: a number with a fraction or an exponent where an
	// integer is required (1.0, 1e3, 2.5).
	ReasonNotInteger = "not-integer"
	// ReasonRange: an integer outside int64, a negative batch_id,
	// segment_id or chunk, or segments below 1.
	ReasonRange = "out-of-range"
	// ReasonUnsorted: data goes down; Field names the index where it does.
	ReasonUnsorted = "unsorted"
	// ReasonSegment: segment_id is not below segments (both present).
	ReasonSegment = "segment-out-of-range"
)

// Error says what is wrong with a record and where. Decode and DecodeOutput
// return only *Error values.
type Error struct {
	Reason string // one of the Reason* constants
	Field  string // "batch_id", "data[3]", ...; "" when no one field is at fault
	Offset int    // byte offset in the record where the problem was found
	Msg    string // human detail, lower-case
}

// Error formats e as "wire: FIELD: MSG (byte OFFSET)", leaving out the field
// part when Field is empty.
func (e *Error) Error() string {
	b := make([]byte, 0, 16+len(e.Field)+len(e.Msg)+12)
	b = append(b, "wire: "...)
	if e.Field != "" {
		b = append(b, e.Field...)
		b = append(b, ": "...)
	}
	b = append(b, e.Msg...)
	b = append(b, " (byte "...)
	b = strconv.AppendInt(b, int64(e.Offset), 10)
	b = append(b, ')')
	return string(b)
}

// syntaxError reports a ReasonNotJSON problem at b[i], or at the end of b
// when i is past it. what says what the scanner was looking for.
func syntaxError(b []byte, i int, what string) *Error {
	if i >= len(b) {
		return &Error{Reason: ReasonNotJSON, Offset: len(b), Msg: "unexpected end of input"}
	}
	return &Error{Reason: ReasonNotJSON, Offset: i, Msg: "invalid character " + quoteChar(b[i]) + " " + what}
}

// quoteChar renders one input byte for a message: 'x', or '\xff' when it
// is not printable ASCII.
func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c >= 0x20 && c < 0x7f:
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return string([]byte{'\'', '\\', 'x', hex[c>>4], hex[c&15], '\''})
}

// tokenText renders an offending token for a message, cut short when long.
func tokenText(tok []byte) string {
	const limit = 40
	if len(tok) > limit {
		return string(tok[:limit]) + "..."
	}
	return string(tok)
}
