package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// seg builds the Segment a valid test record decodes to.
func seg(batch, segment, segments, chunk int64, last bool, data ...int64) *Segment {
	if data == nil {
		data = []int64{}
	}
	return &Segment{BatchID: batch, SegmentID: segment, Segments: segments, Chunk: chunk, Last: last, Data: data}
}

// nested returns an unknown field holding n nested arrays, so that a record
// with it has n+1 levels of nesting.
func nested(n int) string {
	return `"deep":` + strings.Repeat("[", n) + strings.Repeat("]", n)
}

type decodeCase struct {
	name   string
	in     string
	output bool     // DecodeOutput instead of Decode
	reason string   // "" when the record is valid
	field  string   // the Error's Field
	want   *Segment // a valid record's decoding
}

var decodeCases = []decodeCase{
	// Valid records.
	{name: "original shape", in: `{"batch_id": 7, "segment_id": 3, "data": [1, 2, 2, 9]}`, want: seg(7, 3, 0, 0, true, 1, 2, 2, 9)},
	{name: "all optional fields", in: `{"batch_id":7,"segment_id":3,"segments":10,"chunk":2,"last":false,"data":[5]}`, want: seg(7, 3, 10, 2, false, 5)},
	{name: "last true", in: `{"batch_id":7,"segment_id":3,"chunk":1,"last":true,"data":[5]}`, want: seg(7, 3, 0, 1, true, 5)},
	{name: "optional nulls are defaults", in: `{"batch_id":1,"segment_id":2,"segments":null,"chunk":null,"last":null,"data":[]}`, want: seg(1, 2, 0, 0, true)},
	{name: "whitespace everywhere", in: " \t\r\n{ \"batch_id\" : 7 ,\n\"segment_id\"\t:\r3 , \"data\" : [ 1 ,2\t,\n3 ] } \n", want: seg(7, 3, 0, 0, true, 1, 2, 3)},
	{name: "no whitespace", in: `{"data":[1,2,3],"segment_id":3,"batch_id":7}`, want: seg(7, 3, 0, 0, true, 1, 2, 3)},
	{name: "empty data", in: `{"batch_id":7,"segment_id":3,"data":[]}`, want: seg(7, 3, 0, 0, true)},
	{name: "empty data with space", in: `{"batch_id":7,"segment_id":3,"data":[ ]}`, want: seg(7, 3, 0, 0, true)},
	{name: "escaped keys", in: `{"batch\u005fid":1,"segment\u005Fid":2,"d\u0061t\u0061":[3],"\u0073egments":4}`, want: seg(1, 2, 4, 0, true, 3)},
	{name: "escaped slash key is unknown", in: `{"batch_id":1,"segment_id":2,"d\/ata":"x","data":[3]}`, want: seg(1, 2, 0, 0, true, 3)},
	{name: "keys are case-sensitive", in: `{"Batch_ID":9,"batch_id":1,"segment_id":2,"DATA":"x","data":[3]}`, want: seg(1, 2, 0, 0, true, 3)},
	{name: "unknown string with escapes", in: `{"note":"a\"b\\c\u00e9\n\t\/\b\f\r","batch_id":1,"segment_id":0,"data":[1]}`, want: seg(1, 0, 0, 0, true, 1)},
	{name: "unknown string invalid utf-8", in: "{\"note\":\"\xff\xfe\xc3\",\"\xffkey\":1,\"batch_id\":1,\"segment_id\":0,\"data\":[1]}", want: seg(1, 0, 0, 0, true, 1)},
	{name: "unknown nested values", in: `{"meta":{"a":[1,{"b":null,"c":[true,false,-1.5e+3]}],"d":{}},"x":[[],[[]],{}],"batch_id":1,"segment_id":0,"data":[1],"y":"}"}`, want: seg(1, 0, 0, 0, true, 1)},
	{name: "unknown key escapes", in: `{"\ud800\udc00":1,"\"":2,"batch_id":1,"segment_id":0,"data":[1]}`, want: seg(1, 0, 0, 0, true, 1)},
	{name: "duplicate key last wins", in: `{"batch_id":"x","batch_id":5,"segment_id":0,"data":[3,1],"data":[1,3]}`, want: seg(5, 0, 0, 0, true, 1, 3)},
	{name: "duplicate data shorter", in: `{"batch_id":5,"segment_id":0,"data":[1,2,3],"data":[]}`, want: seg(5, 0, 0, 0, true)},
	{name: "duplicate last null restores default", in: `{"batch_id":5,"segment_id":0,"last":false,"last":null,"data":[]}`, want: seg(5, 0, 0, 0, true)},
	{name: "minus zero", in: `{"batch_id":-0,"segment_id":-0,"chunk":-0,"data":[-0,0]}`, want: seg(0, 0, 0, 0, true, 0, 0)},
	{name: "int64 limits", in: `{"batch_id":9223372036854775807,"segment_id":0,"data":[-9223372036854775808,0,9223372036854775807]}`, want: seg(math.MaxInt64, 0, 0, 0, true, math.MinInt64, 0, math.MaxInt64)},
	{name: "negative data", in: `{"batch_id":1,"segment_id":0,"data":[-5,-3,-3,0,10]}`, want: seg(1, 0, 0, 0, true, -5, -3, -3, 0, 10)},
	{name: "last segment", in: `{"batch_id":1,"segment_id":9,"segments":10,"data":[1]}`, want: seg(1, 9, 10, 0, true, 1)},
	{name: "segments one", in: `{"batch_id":1,"segment_id":0,"segments":1,"data":[1]}`, want: seg(1, 0, 1, 0, true, 1)},
	// The small-values loop of dataField, and each way out of it.
	{name: "small values", in: `{"batch_id":1,"segment_id":0,"data":[1,1,2,9,10,10,99]}`, want: seg(1, 0, 0, 0, true, 1, 1, 2, 9, 10, 10, 99)},
	{name: "small values spaced", in: `{"batch_id":1,"segment_id":0,"data":[0, 5, 10, 10]}`, want: seg(1, 0, 0, 0, true, 0, 5, 10, 10)},
	{name: "small then large", in: `{"batch_id":1,"segment_id":0,"data":[1,10,100,1000]}`, want: seg(1, 0, 0, 0, true, 1, 10, 100, 1000)},
	{name: "small then two spaces", in: `{"batch_id":1,"segment_id":0,"data":[1,  2,3]}`, want: seg(1, 0, 0, 0, true, 1, 2, 3)},
	{name: "small then newline", in: "{\"batch_id\":1,\"segment_id\":0,\"data\":[1,\n2,3]}", want: seg(1, 0, 0, 0, true, 1, 2, 3)},
	{name: "small then space before comma", in: `{"batch_id":1,"segment_id":0,"data":[1 ,2 ]}`, want: seg(1, 0, 0, 0, true, 1, 2)},
	{name: "small then negative", in: `{"batch_id":1,"segment_id":0,"data":[-3,-1,2]}`, want: seg(1, 0, 0, 0, true, -3, -1, 2)},
	{name: "small at the record's end", in: `{"batch_id":1,"segment_id":0,"data":[7]}`, want: seg(1, 0, 0, 0, true, 7)},
	{name: "small goes down", in: `{"batch_id":1,"segment_id":0,"data":[1,10,9,12]}`, reason: ReasonUnsorted, field: "data[2]"},
	{name: "small then fraction", in: `{"batch_id":1,"segment_id":0,"data":[1,2.5]}`, reason: ReasonNotInteger, field: "data[1]"},
	{name: "small then leading zero", in: `{"batch_id":1,"segment_id":0,"data":[1,05]}`, reason: ReasonNotJSON},
	{name: "small then trailing comma", in: `{"batch_id":1,"segment_id":0,"data":[1,2,]}`, reason: ReasonNotJSON},
	{name: "small then cut", in: `{"batch_id":1,"segment_id":0,"data":[1,2`, reason: ReasonNotJSON},
	{name: "small then cut after comma", in: `{"batch_id":1,"segment_id":0,"data":[1, `, reason: ReasonNotJSON},
	{name: "small then string", in: `{"batch_id":1,"segment_id":0,"data":[1,"2"]}`, reason: ReasonType, field: "data[1]"},
	{name: "small two digits spaced", in: `{"batch_id":1,"segment_id":0,"data":[10, 11, 12, 99]}`, want: seg(1, 0, 0, 0, true, 10, 11, 12, 99)},
	{name: "small last two digits", in: `{"batch_id":1,"segment_id":0,"data":[1,10]}`, want: seg(1, 0, 0, 0, true, 1, 10)},
	{name: "small at the very end", in: `{"batch_id":1,"segment_id":0,"data":[1,2]}`, want: seg(1, 0, 0, 0, true, 1, 2)},
	{name: "small then space at the end", in: `{"batch_id":1,"segment_id":0,"data":[1,2 ]}`, want: seg(1, 0, 0, 0, true, 1, 2)},
	{name: "small then two digits and two spaces", in: `{"batch_id":1,"segment_id":0,"data":[1,10,  11]}`, want: seg(1, 0, 0, 0, true, 1, 10, 11)},
	{name: "small cut after a digit", in: `{"batch_id":1,"segment_id":0,"data":[1,2`, reason: ReasonNotJSON},
	{name: "small cut after two digits", in: `{"batch_id":1,"segment_id":0,"data":[1,23`, reason: ReasonNotJSON},
	{name: "small close without brace", in: `{"batch_id":1,"segment_id":0,"data":[1,2]`, reason: ReasonNotJSON},
	{name: "small in words", in: `{"batch_id":1,"segment_id":0,"data":[0,1,1,2,3,3,4,5,5,6,7,8,9,9,10,10]}`, want: seg(1, 0, 0, 0, true, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 8, 9, 9, 10, 10)},
	{name: "small word goes down inside", in: `{"batch_id":1,"segment_id":0,"data":[1,2,4,3,5,6]}`, reason: ReasonUnsorted, field: "data[3]"},
	{name: "small word below the one before", in: `{"batch_id":1,"segment_id":0,"data":[1,5,5,5,5,2,3,4,5,6]}`, reason: ReasonUnsorted, field: "data[5]"},
	{name: "small word with a colon", in: `{"batch_id":1,"segment_id":0,"data":[1,2,:,3,4,5]}`, reason: ReasonNotJSON},
	{name: "small word with a slash", in: `{"batch_id":1,"segment_id":0,"data":[1,2,/,3,4,5]}`, reason: ReasonNotJSON},
	{name: "small word then dot", in: `{"batch_id":1,"segment_id":0,"data":[1,2,3,4.5,6,7]}`, reason: ReasonNotInteger, field: "data[3]"},
	// intField's loop for the usual id, and each way out of it.
	{name: "id of 18 digits", in: `{"batch_id":999999999999999999,"segment_id":7,"data":[]}`, want: seg(999999999999999999, 7, 0, 0, true)},
	{name: "id of 19 digits", in: `{"batch_id":9223372036854775807,"segment_id":0,"data":[]}`, want: seg(math.MaxInt64, 0, 0, 0, true)},
	{name: "id of 19 digits overflowing", in: `{"batch_id":9999999999999999999,"segment_id":0,"data":[]}`, reason: ReasonRange, field: "batch_id"},
	{name: "id with a fraction", in: `{"batch_id":12.5,"segment_id":0,"data":[]}`, reason: ReasonNotInteger, field: "batch_id"},
	{name: "id with an exponent", in: `{"batch_id":12e3,"segment_id":0,"data":[]}`, reason: ReasonNotInteger, field: "batch_id"},
	{name: "id then space", in: `{"batch_id":12 ,"segment_id":3 }`, reason: ReasonMissing, field: "data"},
	{name: "id cut", in: `{"batch_id":12`, reason: ReasonNotJSON},
	{name: "segments of 1", in: `{"batch_id":1,"segment_id":0,"segments":1,"chunk":12,"data":[]}`, want: seg(1, 0, 1, 12, true)},
	// plainKey's near misses: each must be read the general way.
	{name: "keys that begin like fields", in: `{"b":1,"s":2,"segment":3,"segments_":4,"dat":5,"datas":6,"chunks":7,"lastly":8,"batch_id":1,"segment_id":0,"data":[1]}`, want: seg(1, 0, 0, 0, true, 1)},
	{name: "field name then escape", in: `{"data\u0020":[5,4],"batch_id":1,"segment_id":0,"data":[1]}`, want: seg(1, 0, 0, 0, true, 1)},
	{name: "record cut inside a key", in: `{"batch_id":1,"segment_id":0,"da`, reason: ReasonNotJSON},
	{name: "record cut after a key", in: `{"batch_id":1,"segment_id":0,"data"`, reason: ReasonNotJSON},
	{name: "record cut at a key's quote", in: `{"batch_id":1,"segment_id":0,"`, reason: ReasonNotJSON},
	{name: "max nesting", in: `{"batch_id":1,"segment_id":0,"data":[],` + nested(9999) + `}`, want: seg(1, 0, 0, 0, true)},

	// ReasonNotJSON.
	{name: "empty", in: ``, reason: ReasonNotJSON},
	{name: "only space", in: " \n", reason: ReasonNotJSON},
	{name: "top null", in: `null`, reason: ReasonNotJSON},
	{name: "top array", in: `[{"batch_id":1,"segment_id":0,"data":[]}]`, reason: ReasonNotJSON},
	{name: "top number", in: `1`, reason: ReasonNotJSON},
	{name: "top string", in: `"x"`, reason: ReasonNotJSON},
	{name: "unclosed", in: `{"batch_id":1,"segment_id":0,"data":[1]`, reason: ReasonNotJSON},
	{name: "unclosed data", in: `{"batch_id":1,"segment_id":0,"data":[1,`, reason: ReasonNotJSON},
	{name: "trailing garbage", in: `{"batch_id":1,"segment_id":0,"data":[1]} x`, reason: ReasonNotJSON},
	{name: "two objects", in: `{"batch_id":1,"segment_id":0,"data":[1]}{}`, reason: ReasonNotJSON},
	{name: "trailing comma in object", in: `{"batch_id":1,"segment_id":0,"data":[1],}`, reason: ReasonNotJSON},
	{name: "trailing comma in data", in: `{"batch_id":1,"segment_id":0,"data":[1,]}`, reason: ReasonNotJSON},
	{name: "double comma in data", in: `{"batch_id":1,"segment_id":0,"data":[1,,2]}`, reason: ReasonNotJSON},
	{name: "leading comma in data", in: `{"batch_id":1,"segment_id":0,"data":[,1]}`, reason: ReasonNotJSON},
	{name: "missing comma", in: `{"batch_id":1 "segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "missing colon", in: `{"batch_id" 1,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "space in number", in: `{"batch_id":1,"segment_id":0,"data":[1 2]}`, reason: ReasonNotJSON},
	{name: "leading zero", in: `{"batch_id":1,"segment_id":0,"data":[01]}`, reason: ReasonNotJSON},
	{name: "leading zero id", in: `{"batch_id":007,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "plus sign", in: `{"batch_id":+1,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "bare minus", in: `{"batch_id":1,"segment_id":0,"data":[-]}`, reason: ReasonNotJSON},
	{name: "double minus", in: `{"batch_id":1,"segment_id":0,"data":[--1]}`, reason: ReasonNotJSON},
	{name: "dot without digits", in: `{"batch_id":1.,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "leading dot", in: `{"batch_id":.5,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "exponent without digits", in: `{"batch_id":1e,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "hex number", in: `{"batch_id":0x10,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "NaN", in: `{"batch_id":1,"segment_id":0,"data":[NaN]}`, reason: ReasonNotJSON},
	{name: "bad literal", in: `{"batch_id":1,"segment_id":0,"last":ture,"data":[1]}`, reason: ReasonNotJSON},
	{name: "cut literal", in: `{"batch_id":1,"segment_id":0,"data":[1],"last":tru`, reason: ReasonNotJSON},
	{name: "single quotes", in: `{'batch_id':1,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "unquoted key", in: `{batch_id:1,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "bad escape", in: `{"batch_id":1,"segment_id":0,"data":[1],"x":"\x41"}`, reason: ReasonNotJSON},
	{name: "single quote escape", in: `{"batch_id":1,"segment_id":0,"data":[1],"x":"\'"}`, reason: ReasonNotJSON},
	{name: "short unicode escape", in: `{"batch_id":1,"segment_id":0,"data":[1],"x":"\u12"}`, reason: ReasonNotJSON},
	{name: "bad escape in key", in: `{"batch\_id":1,"segment_id":0,"data":[1]}`, reason: ReasonNotJSON},
	{name: "control byte in string", in: "{\"batch_id\":1,\"segment_id\":0,\"data\":[1],\"x\":\"a\tb\"}", reason: ReasonNotJSON},
	{name: "unterminated string", in: `{"batch_id":1,"segment_id":0,"data":[1],"x":"abc}`, reason: ReasonNotJSON},
	{name: "byte order mark", in: "\ufeff{\"batch_id\":1,\"segment_id\":0,\"data\":[1]}", reason: ReasonNotJSON},
	{name: "comment", in: `{"batch_id":1,"segment_id":0,"data":[1]} // x`, reason: ReasonNotJSON},
	{name: "mismatched bracket", in: `{"batch_id":1,"segment_id":0,"data":[1],"x":[}]}`, reason: ReasonNotJSON},
	{name: "mismatched brace", in: `{"batch_id":1,"segment_id":0,"data":[1],"x":{"a":1]}`, reason: ReasonNotJSON},
	{name: "too deep", in: `{"batch_id":1,"segment_id":0,"data":[],` + nested(10000) + `}`, reason: ReasonNotJSON},
	{name: "too deep in data", in: `{"batch_id":1,"segment_id":0,"data":[` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `]}`, reason: ReasonNotJSON},
	{name: "syntax error after semantic error", in: `{"batch_id":"x","segment_id":0,"data":[2,1],"y":[1,]}`, reason: ReasonNotJSON},
	{name: "garbage after semantic error", in: `{"batch_id":1.5,"segment_id":0,"data":[2,1]}]`, reason: ReasonNotJSON},

	// ReasonMissing.
	{name: "no batch_id", in: `{"segment_id":0,"data":[1]}`, reason: ReasonMissing, field: "batch_id"},
	{name: "no segment_id", in: `{"batch_id":0,"data":[1]}`, reason: ReasonMissing, field: "segment_id"},
	{name: "no data", in: `{"batch_id":0,"segment_id":0}`, reason: ReasonMissing, field: "data"},
	{name: "no segment_id nor data", in: `{"batch_id":0}`, reason: ReasonMissing, field: "segment_id"},
	{name: "empty object", in: `{}`, reason: ReasonMissing, field: "batch_id"},
	{name: "null batch_id", in: `{"batch_id":null,"segment_id":0,"data":[1]}`, reason: ReasonMissing, field: "batch_id"},
	{name: "null segment_id", in: `{"batch_id":1,"segment_id":null,"data":[1]}`, reason: ReasonMissing, field: "segment_id"},
	{name: "null data", in: `{"batch_id":1,"segment_id":0,"data":null}`, reason: ReasonMissing, field: "data"},
	{name: "duplicate ends null", in: `{"batch_id":1,"batch_id":null,"segment_id":0,"data":[1]}`, reason: ReasonMissing, field: "batch_id"},
	{name: "case differs", in: `{"Batch_ID":1,"segment_id":0,"data":[1]}`, reason: ReasonMissing, field: "batch_id"},

	// ReasonType.
	{name: "batch_id string", in: `{"batch_id":"7","segment_id":0,"data":[1]}`, reason: ReasonType, field: "batch_id"},
	{name: "batch_id bool", in: `{"batch_id":true,"segment_id":0,"data":[1]}`, reason: ReasonType, field: "batch_id"},
	{name: "segment_id object", in: `{"batch_id":1,"segment_id":{},"data":[1]}`, reason: ReasonType, field: "segment_id"},
	{name: "segments array", in: `{"batch_id":1,"segment_id":0,"segments":[1],"data":[1]}`, reason: ReasonType, field: "segments"},
	{name: "chunk string", in: `{"batch_id":1,"segment_id":0,"chunk":"0","data":[1]}`, reason: ReasonType, field: "chunk"},
	{name: "last number", in: `{"batch_id":1,"segment_id":0,"last":1,"data":[1]}`, reason: ReasonType, field: "last"},
	{name: "last string", in: `{"batch_id":1,"segment_id":0,"last":"true","data":[1]}`, reason: ReasonType, field: "last"},
	{name: "data object", in: `{"batch_id":1,"segment_id":0,"data":{"0":1}}`, reason: ReasonType, field: "data"},
	{name: "data string", in: `{"batch_id":1,"segment_id":0,"data":"1,2"}`, reason: ReasonType, field: "data"},
	{name: "data number", in: `{"batch_id":1,"segment_id":0,"data":5}`, reason: ReasonType, field: "data"},
	{name: "data element string", in: `{"batch_id":1,"segment_id":0,"data":[1,"2"]}`, reason: ReasonType, field: "data[1]"},
	{name: "data element null", in: `{"batch_id":1,"segment_id":0,"data":[1,null]}`, reason: ReasonType, field: "data[1]"},
	{name: "data element array", in: `{"batch_id":1,"segment_id":0,"data":[1,2,[3]]}`, reason: ReasonType, field: "data[2]"},

	// ReasonNotInteger.
	{name: "batch_id fraction", in: `{"batch_id":2.5,"segment_id":0,"data":[1]}`, reason: ReasonNotInteger, field: "batch_id"},
	{name: "batch_id point zero", in: `{"batch_id":1.0,"segment_id":0,"data":[1]}`, reason: ReasonNotInteger, field: "batch_id"},
	{name: "segment_id exponent", in: `{"batch_id":1,"segment_id":1e3,"data":[1]}`, reason: ReasonNotInteger, field: "segment_id"},
	{name: "segments exponent", in: `{"batch_id":1,"segment_id":0,"segments":1E1,"data":[1]}`, reason: ReasonNotInteger, field: "segments"},
	{name: "chunk minus zero fraction", in: `{"batch_id":1,"segment_id":0,"chunk":-0.0,"data":[1]}`, reason: ReasonNotInteger, field: "chunk"},
	{name: "data fraction", in: `{"batch_id":1,"segment_id":0,"data":[1,2,3,2.5]}`, reason: ReasonNotInteger, field: "data[3]"},
	{name: "data huge exponent", in: `{"batch_id":1,"segment_id":0,"data":[1e400]}`, reason: ReasonNotInteger, field: "data[0]"},
	{name: "data signed exponent", in: `{"batch_id":1,"segment_id":0,"data":[1,2e-1]}`, reason: ReasonNotInteger, field: "data[1]"},

	// ReasonRange.
	{name: "negative batch_id", in: `{"batch_id":-1,"segment_id":0,"data":[1]}`, reason: ReasonRange, field: "batch_id"},
	{name: "negative segment_id", in: `{"batch_id":1,"segment_id":-3,"data":[1]}`, reason: ReasonRange, field: "segment_id"},
	{name: "negative chunk", in: `{"batch_id":1,"segment_id":0,"chunk":-1,"data":[1]}`, reason: ReasonRange, field: "chunk"},
	{name: "zero segments", in: `{"batch_id":1,"segment_id":0,"segments":0,"data":[1]}`, reason: ReasonRange, field: "segments"},
	{name: "negative segments", in: `{"batch_id":1,"segment_id":0,"segments":-2,"data":[1]}`, reason: ReasonRange, field: "segments"},
	{name: "batch_id past max", in: `{"batch_id":9223372036854775808,"segment_id":0,"data":[1]}`, reason: ReasonRange, field: "batch_id"},
	{name: "data past max", in: `{"batch_id":1,"segment_id":0,"data":[1,9223372036854775808]}`, reason: ReasonRange, field: "data[1]"},
	{name: "data past min", in: `{"batch_id":1,"segment_id":0,"data":[-9223372036854775809]}`, reason: ReasonRange, field: "data[0]"},
	{name: "data twenty digits", in: `{"batch_id":1,"segment_id":0,"data":[18446744073709551616]}`, reason: ReasonRange, field: "data[0]"},
	{name: "data many digits", in: `{"batch_id":1,"segment_id":0,"data":[` + strings.Repeat("9", 100) + `]}`, reason: ReasonRange, field: "data[0]"},
	{name: "duplicate ends negative", in: `{"batch_id":5,"batch_id":-1,"segment_id":0,"data":[1]}`, reason: ReasonRange, field: "batch_id"},

	// ReasonUnsorted.
	{name: "goes down", in: `{"batch_id":1,"segment_id":0,"data":[1,2,1]}`, reason: ReasonUnsorted, field: "data[2]"},
	{name: "goes down at once", in: `{"batch_id":1,"segment_id":0,"data":[5,4]}`, reason: ReasonUnsorted, field: "data[1]"},
	{name: "goes down negative", in: `{"batch_id":1,"segment_id":0,"data":[-1,-2]}`, reason: ReasonUnsorted, field: "data[1]"},
	{name: "max then min", in: `{"batch_id":1,"segment_id":0,"data":[9223372036854775807,-9223372036854775808]}`, reason: ReasonUnsorted, field: "data[1]"},

	// ReasonSegment.
	{name: "segment_id equals segments", in: `{"batch_id":1,"segment_id":10,"segments":10,"data":[1]}`, reason: ReasonSegment, field: "segment_id"},
	{name: "segment_id beyond segments", in: `{"segments":1,"batch_id":1,"segment_id":7,"data":[1]}`, reason: ReasonSegment, field: "segment_id"},

	// Precedence among semantic problems: the earliest in the record.
	{name: "earliest problem wins", in: `{"data":[1,2.5],"batch_id":"x","segment_id":0}`, reason: ReasonNotInteger, field: "data[1]"},
	{name: "earliest problem wins again", in: `{"batch_id":"x","data":[2,1],"segment_id":-1}`, reason: ReasonType, field: "batch_id"},
	{name: "first bad element wins", in: `{"batch_id":1,"segment_id":0,"data":[3,2,"x",1.5]}`, reason: ReasonUnsorted, field: "data[1]"},
	{name: "null before bad value", in: `{"batch_id":null,"segment_id":-1,"data":[1]}`, reason: ReasonMissing, field: "batch_id"},
	{name: "bad value before absent", in: `{"segment_id":-1,"data":[1]}`, reason: ReasonRange, field: "segment_id"},
	{name: "absent in order", in: `{"data":[1]}`, reason: ReasonMissing, field: "batch_id"},
	{name: "field problem before segment", in: `{"batch_id":1,"segment_id":5,"segments":2,"data":[2,1]}`, reason: ReasonUnsorted, field: "data[1]"},

	// DecodeOutput.
	{name: "output", output: true, in: `{"batch_id":7,"data":[1,1,2,9]}`, want: seg(7, 0, 0, 0, true, 1, 1, 2, 9)},
	{name: "output empty", output: true, in: `{"batch_id":7,"data":[]}`, want: seg(7, 0, 0, 0, true)},
	{name: "output chunk", output: true, in: `{"batch_id":7,"chunk":3,"last":false,"data":[4]}`, want: seg(7, 0, 0, 3, false, 4)},
	{name: "output ignores segment fields", output: true, in: `{"batch_id":7,"segment_id":"x","segments":0,"data":[4]}`, want: seg(7, 0, 0, 0, true, 4)},
	{name: "output ignores segment out of range", output: true, in: `{"batch_id":7,"segment_id":10,"segments":2,"data":[4]}`, want: seg(7, 0, 0, 0, true, 4)},
	{name: "output no data", output: true, in: `{"batch_id":7}`, reason: ReasonMissing, field: "data"},
	{name: "output no batch_id", output: true, in: `{"data":[1]}`, reason: ReasonMissing, field: "batch_id"},
	{name: "output unsorted", output: true, in: `{"batch_id":7,"data":[2,1]}`, reason: ReasonUnsorted, field: "data[1]"},
	{name: "output bad chunk", output: true, in: `{"batch_id":7,"chunk":-1,"data":[1]}`, reason: ReasonRange, field: "chunk"},
	{name: "output bad last", output: true, in: `{"batch_id":7,"last":"no","data":[1]}`, reason: ReasonType, field: "last"},
	{name: "output not json", output: true, in: `{"batch_id":7,"data":[1]`, reason: ReasonNotJSON},
}

func decodeWith(d *Decoder, in []byte, output bool, s *Segment) error {
	if output {
		return d.DecodeOutput(in, s)
	}
	return d.Decode(in, s)
}

func TestDecode(t *testing.T) {
	var shared Decoder // reused across cases, as in the consumer
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			sentinel := Segment{BatchID: -42, Data: []int64{-42}}
			for _, d := range []*Decoder{new(Decoder), &shared} {
				got := sentinel
				err := decodeWith(d, in, tc.output, &got)
				if tc.reason == "" {
					if err != nil {
						t.Fatalf("error %v, want %+v", err, *tc.want)
					}
					if !equalSegment(got, *tc.want) {
						t.Fatalf("got %+v, want %+v", got, *tc.want)
					}
				} else {
					var e *Error
					if !errors.As(err, &e) {
						t.Fatalf("error %v (%T), want *Error %s", err, err, tc.reason)
					}
					if e.Reason != tc.reason || e.Field != tc.field {
						t.Fatalf("%v: reason %q field %q, want %q %q", err, e.Reason, e.Field, tc.reason, tc.field)
					}
					if e.Offset < 0 || e.Offset > len(in) {
						t.Fatalf("%v: offset %d outside the record", err, e.Offset)
					}
					if !equalSegment(got, sentinel) {
						t.Fatalf("error %v, but *s changed to %+v", err, got)
					}
				}
			}
			// The model must agree with the table, or one of them is wrong.
			checkAgainstModel(t, new(Decoder), in, tc.output)
		})
	}
}

func TestDecodeHugeData(t *testing.T) {
	const n = 200_000
	var want []int64
	in := []byte(`{"batch_id":3,"segment_id":1,"data":[`)
	for k := range n {
		v := int64(k)*46_116_860_184 - math.MaxInt64 // spans most of int64
		want = append(want, v)
		if k > 0 {
			in = append(in, ", "...)
		}
		in = strconv.AppendInt(in, v, 10)
	}
	in = append(in, "]}"...)
	var d Decoder
	var s Segment
	if err := d.Decode(in, &s); err != nil {
		t.Fatal(err)
	}
	if !equalSegment(s, *seg(3, 1, 0, 0, true, want...)) {
		t.Fatalf("huge data decoded wrong")
	}
	// The buffer is kept: a smaller record after it reuses it.
	if err := d.Decode([]byte(`{"batch_id":4,"segment_id":0,"data":[7,8]}`), &s); err != nil {
		t.Fatal(err)
	}
	if !equalSegment(s, *seg(4, 0, 0, 0, true, 7, 8)) {
		t.Fatalf("after huge: got %+v", s)
	}
}

func TestErrorString(t *testing.T) {
	in := `{"batch_id":1,"segment_id":0,"data":[1,2,2,2.5]}`
	var s Segment
	err := new(Decoder).Decode([]byte(in), &s)
	want := "wire: data[3]: 2.5 is not an integer (byte " + strconv.Itoa(strings.Index(in, "2.5")) + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	err = new(Decoder).Decode([]byte(`{"batch_id":1}x`), &s)
	if want := `wire: invalid character 'x' after top-level value (byte 14)`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestErrorOffsets(t *testing.T) {
	for _, tc := range []struct {
		in     string
		offset int
	}{
		{`{"batch_id":-1,"segment_id":0,"data":[1]}`, 12},
		{`{"batch_id":1,"segment_id":0,"data":[1, 0]}`, 40},
		{`{"batch_id":1,"data":[1]}`, 24},
		{`{"batch_id":1,"segment_id":0,"data":[1,]}`, 39},
		{`{"batch_id":1,"segment_id":0,"data":[1]`, 39},
		{"{\"batch_id\":1,\"segment_id\":0,\"data\":[1],\"x\":\"\x01\"}", 45},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var s Segment
			err := new(Decoder).Decode([]byte(tc.in), &s)
			var e *Error
			if !errors.As(err, &e) || e.Offset != tc.offset {
				t.Fatalf("got %v, want an error at byte %d", err, tc.offset)
			}
		})
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	records := [][]byte{
		[]byte(`{"batch_id": 7, "segment_id": 3, "data": [1, 2, 2, 9, 10, 11, 12, 13, 14]}`),
		[]byte(`{"batch\u005fid":7,"segment_id":3,"segments":10,"chunk":1,"last":false,"x":{"y":["z\n",1.5,null]},"data":[1,2]}`),
	}
	var d Decoder
	var s Segment
	for _, r := range records {
		if err := d.Decode(r, &s); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = d.Decode(r, &s) }); n != 0 {
			t.Errorf("%s: %v allocations per Decode, want 0", r, n)
		}
	}
}

// Numbers of every length from 1 to 24 digits, at the start, middle and
// end of the data and followed by each kind of byte, decode as strconv
// reads them: the eight-digits-at-a-time path must agree with the digit
// loop at every boundary, and past 19 digits report overflow.
func TestDecodeNumberLengths(t *testing.T) {
	digits := "98765432109876543210987654321"
	for n := 1; n <= 24; n++ {
		for _, num := range []string{digits[:n], "1" + strings.Repeat("0", n-1), strings.Repeat("9", n)} {
			want, perr := strconv.ParseInt(num, 10, 64)
			for _, data := range []string{"[" + num + "]", "[0," + num + "]", "[" + num + " ]", "[" + num + ",\n" + num + "]"} {
				rec := `{"batch_id":1,"segment_id":0,"data":` + data + `}`
				var s Segment
				err := new(Decoder).Decode([]byte(rec), &s)
				switch {
				case perr != nil:
					var we *Error
					if !errors.As(err, &we) || we.Reason != ReasonRange {
						t.Fatalf("%s: err %v, want out of range", rec, err)
					}
				case err != nil:
					t.Fatalf("%s: %v", rec, err)
				case s.Data[len(s.Data)-1] != want:
					t.Fatalf("%s: last value %d, want %d", rec, s.Data[len(s.Data)-1], want)
				}
			}
		}
	}
}

// fourDigitsCommas takes exactly the words of four digits each followed by
// a comma: every byte value is tried at every place of such a word.
func TestFourDigitsCommas(t *testing.T) {
	word := []byte("1,2,3,4,")
	for pos := range 8 {
		for c := range 256 {
			w := append([]byte(nil), word...)
			w[pos] = byte(c)
			want := c == ','
			if pos%2 == 0 {
				want = c >= '0' && c <= '9'
			}
			if got := fourDigitsCommas(binary.LittleEndian.Uint64(w)); got != want {
				t.Fatalf("%q: %v, want %v", w, got, want)
			}
		}
	}
}

// plainKey finds exactly the field names that begin at a key's opening
// quote, in the buffer's middle and at its very end (where its 8-byte loads
// do not fit), and no name with any byte changed: every name, every byte
// of it replaced by every other value, followed by 0 to 9 bytes.
func TestPlainKey(t *testing.T) {
	want := func(b []byte) (field, int) {
		for f, name := range quotedNames {
			if bytes.HasPrefix(b[1:], []byte(name)) {
				return field(f), 1 + len(name)
			}
		}
		return 0, 0
	}
	check := func(b []byte) {
		t.Helper()
		gf, ge := plainKey(b, 0)
		wf, we := want(b)
		if gf != wf || ge != we {
			t.Fatalf("plainKey(%q) = %d, %d; want %d, %d", b, gf, ge, wf, we)
		}
	}
	for _, name := range quotedNames {
		for tail := range 10 {
			b := []byte(`"` + name + `:123456789`[:tail])
			check(b)
			for j := 1; j <= len(name); j++ {
				orig := b[j]
				for c := range 256 {
					b[j] = byte(c)
					check(b)
				}
				b[j] = orig
			}
		}
	}
}

// Records as segmerge's producer writes them, and as Python's json.dumps
// writes them (a space after each colon and comma), take quick's way, with
// any ids and data, and decode as the general way decodes them.
func TestQuickTakesProducerRecords(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	ids := []int64{0, 1, 9, 10, 99, 12345, 1e17, 1e18 - 1}
	for range 2000 {
		s := Segment{BatchID: ids[rng.IntN(len(ids))], SegmentID: ids[rng.IntN(len(ids))], Last: true}
		if rng.IntN(2) == 0 {
			s.BatchID = rng.Int64N(1e18)
		}
		for range rng.IntN(30) {
			s.Data = append(s.Data, rng.Int64N([]int64{11, 100, 1e9, math.MaxInt64}[rng.IntN(4)]))
		}
		slices.Sort(s.Data)
		b := AppendSegment(nil, &s)
		if rng.IntN(2) == 0 { // json.dumps
			strs := make([]string, len(s.Data))
			for i, v := range s.Data {
				strs[i] = strconv.FormatInt(v, 10)
			}
			b = fmt.Appendf(nil, `{"batch_id": %d, "segment_id": %d, "data": [%s]}`, s.BatchID, s.SegmentID, strings.Join(strs, ", "))
		}
		var q, g Segment
		var d Decoder
		if !d.quick(b, &q) {
			t.Fatalf("quick did not take %s", b)
		}
		if err := new(Decoder).general(b, &g, false); err != nil || !reflect.DeepEqual(normal(q), normal(g)) || !reflect.DeepEqual(normal(q), normal(s)) {
			t.Fatalf("%s: quick %+v, general %+v (%v), written %+v", b, q, g, err, s)
		}
	}
}

// Decode, which tries quick first, decodes exactly as the general way, and
// fails with the same error, on producer-shaped records with any one byte
// replaced, cut short or lengthened: the records quick comes nearest to
// taking wrongly.
func TestQuickAgreesWithGeneral(t *testing.T) {
	bases := []string{
		`{"batch_id":0,"segment_id":0,"data":[]}`,
		`{"batch_id":7,"segment_id":3,"data":[1,1,2,9,10]}`,
		`{"batch_id":123456789012345678,"segment_id":10,"data":[-5,0,7,1000000007]}`,
		`{"batch_id": 7, "segment_id": 3, "data": [1, 1, 2, 9, 10]}`,
		`{"batch_id": 0, "segment_id": 0, "data": []}`,
	}
	repl := []byte(`0159-.eE"{}[],: nta\x`)
	check := func(b []byte) {
		t.Helper()
		var got, want Segment
		gerr := new(Decoder).Decode(b, &got)
		werr := new(Decoder).general(b, &want, false)
		if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("%q: Decode error %v, the general way's %v", b, gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(normal(got), normal(want)) {
			t.Fatalf("%q: Decode %+v, the general way %+v", b, got, want)
		}
	}
	for _, base := range bases {
		b := []byte(base)
		for i := range b {
			orig := b[i]
			for _, c := range repl {
				b[i] = c
				check(b)
			}
			b[i] = orig
			check(b[:i])
			check(append(append(append([]byte(nil), b[:i]...), '1'), b[i:]...))
		}
		check(append(b, ' '))
	}
}
