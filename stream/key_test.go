package stream

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/segmerge/segmerge/wire"
)

func TestFieldKey(t *testing.T) {
	for _, tc := range []struct {
		value  string
		key    int64
		reason string
	}{
		{`{"ts": 42, "x": "y"}`, 42, ""},
		{`{"ts": -7}`, -7, ""},
		{`{"ts": 9223372036854775807}`, math.MaxInt64, ""},
		{`{"ts": 9223372036854775808}`, 0, wire.ReasonRange},
		{`{"ts": 1.5}`, 0, wire.ReasonNotInteger},
		{`{"ts": 1e3}`, 0, wire.ReasonNotInteger},
		{`{"ts": "42"}`, 0, wire.ReasonType},
		{`{"ts": null}`, 0, wire.ReasonMissing},
		{`{"other": 1}`, 0, wire.ReasonMissing},
		{`[1, 2]`, 0, wire.ReasonNotJSON},
		{`null`, 0, wire.ReasonNotJSON},
		{`not json`, 0, wire.ReasonNotJSON},
		{`{"ts": 1} trailing`, 0, wire.ReasonNotJSON},
	} {
		t.Run(tc.value, func(t *testing.T) {
			key, err := fieldKey([]byte(tc.value), "ts")
			var ke *keyError
			switch {
			case tc.reason == "" && (err != nil || key != tc.key):
				t.Fatalf("key %d, err %v; want %d", key, err, tc.key)
			case tc.reason != "" && (!errors.As(err, &ke) || ke.reason != tc.reason):
				t.Fatalf("err %v; want reason %s", err, tc.reason)
			}
		})
	}
}

// FuzzFieldKey checks fieldKey against encoding/json: a key it reads is the
// field's value as json.Number reads it, and it refuses every value that
// is not an object holding an int64.
func FuzzFieldKey(f *testing.F) {
	for _, s := range []string{`{"ts":1}`, `{"ts":-0}`, `{"ts":1.0}`, `{"ts":"1"}`, `{}`, `[]`, `{"ts":99999999999999999999}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		key, err := fieldKey(value, "ts")
		var obj map[string]json.Number
		oerr := json.Unmarshal(value, &obj)
		if err == nil {
			if oerr != nil {
				t.Fatalf("read key %d from %q, which encoding/json refuses: %v", key, value, oerr)
			}
			n, nerr := obj["ts"].Int64()
			if nerr != nil || n != key {
				t.Fatalf("read key %d from %q; encoding/json says %v, %v", key, value, n, nerr)
			}
		}
	})
}
