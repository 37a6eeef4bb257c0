package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/segmerge/segmerge/wire"
)

// Reasons a record goes to the dead-letter topic, besides the wire
// package's for a value whose key cannot be read (wire.ReasonNotJSON,
// wire.ReasonMissing, wire.ReasonType, wire.ReasonNotInteger,
// wire.ReasonRange).
const (
	// ReasonLate: the record sorts below one already written; the stream
	// went on without its partition (idle) before it arrived.
	ReasonLate = "late"
	// ReasonUnsorted: the record's key is below its partition's previous
	// key.
	ReasonUnsorted = wire.ReasonUnsorted
)

// keyError says why a record's key cannot be read: a wire reason code and
// the message.
type keyError struct {
	reason string
	msg    string
}

func (e *keyError) Error() string { return e.msg }

// fieldKey reads the integer field name of a JSON object value, as an
// int64 the way package wire validates integers: no fraction, no exponent,
// within range.
func fieldKey(value []byte, name string) (int64, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil || obj == nil {
		msg := "the value is not a JSON object"
		if err != nil {
			msg += ": " + err.Error()
		}
		return 0, &keyError{wire.ReasonNotJSON, msg}
	}
	raw, ok := obj[name]
	if !ok || bytes.Equal(raw, []byte("null")) {
		return 0, &keyError{wire.ReasonMissing, fmt.Sprintf("field %q missing", name)}
	}
	if len(raw) == 0 || raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, &keyError{wire.ReasonType, fmt.Sprintf("field %q is not a number: %.40s", name, raw)}
	}
	if bytes.ContainsAny(raw, ".eE") {
		return 0, &keyError{wire.ReasonNotInteger, fmt.Sprintf("field %q is not an integer: %.40s", name, raw)}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, &keyError{wire.ReasonRange, fmt.Sprintf("field %q is outside int64: %.40s", name, raw)}
		}
		return 0, &keyError{wire.ReasonType, fmt.Sprintf("field %q: %v", name, err)}
	}
	return n, nil
}
