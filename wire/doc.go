// Package wire is segmerge's record format: the JSON of the segments that
// producers write and of the merged batches that segmerge writes out. It
// decodes input records (and output records, which verify reads back) and
// appends both kinds to caller buffers. OutputScanner reads a file of output
// records, one a line, in fixed memory however long a line is.
//
// An input record is one segment of a batch, or one chunk of a segment:
//
//	{"batch_id": 7, "segment_id": 3, "data": [1, 2, 2, 9]}
//
// with optional "segments" (how many segments the batch has), "chunk" (the
// chunk's index within its segment, default 0) and "last" (whether the chunk
// ends the segment, default true). An output record is one merged batch, or
// one chunk of it: {"batch_id":7,"data":[1,1,2,9]}, with "chunk" and "last"
// when a batch is split over records.
//
// # What it must never do
//
// It knows nothing of Kafka: it sees bytes. It never panics, whatever
// the bytes. It uses no reflection in the hot path: the decoder is written by
// hand because encoding/json decodes int arrays through reflection, an order
// of magnitude slower than one tight pass over the bytes
// (BenchmarkDecodeEncodingJSON measures it next to BenchmarkDecode). A Decoder reuses its
// buffers, so decoding does not allocate in steady state.
//
// # What the decoder accepts
//
// Exactly the records these rules accept. The record must be one valid JSON
// value (RFC 8259) whose top level is an object: what
// json.Unmarshal(b, &map[string]json.RawMessage{}) accepts, including its
// tolerance of invalid UTF-8 inside strings and its limit of 10000 nested
// objects and arrays. Fields are then read by exact key after unescaping:
// "batch\u005fid" is batch_id, but "Batch_ID" is not; matching is
// case-sensitive, unlike encoding/json's matching of struct fields. When a key
// occurs more than once the last occurrence wins, as in a map. Unknown fields
// are skipped, but their values must be valid JSON.
//
//   - batch_id, segment_id, segments, chunk: a JSON number that
//     json.Unmarshal accepts into an int64: no fraction and no exponent (1.0
//     and 1e2 are ReasonNotInteger), within int64 (else ReasonRange); -0 is 0.
//     batch_id, segment_id and chunk must be >= 0 and segments >= 1
//     (ReasonRange). A string, boolean, object or array is ReasonType. null is
//     ReasonMissing for a required field and means "absent" for an optional one.
//   - data: an array of such numbers, non-decreasing; [] is valid. An element
//     that is not a number (null included) is ReasonType, a fraction
//     ReasonNotInteger, beyond int64 ReasonRange, one below its predecessor
//     ReasonUnsorted; Field names the element, as in "data[3]".
//   - last: true or false; null means the default, true; anything else is
//     ReasonType.
//   - segment_id must be below segments when segments is present
//     (ReasonSegment).
//
// Decode needs batch_id, segment_id and data. DecodeOutput needs batch_id and
// data, reads chunk and last, and skips segment_id and segments as unknown.
//
// # Two ways, one decision
//
// A record exactly as segmerge's producer writes it, or as Python's
// json.dumps does (the three required fields in order, no other field, no
// other whitespace outside the array), is read by a straight pass over its
// expected bytes;
// any other record, and any such record with a problem, is read the
// general way, which follows the rules above field by field. The quick way
// only saves work: it takes no record the general way would refuse or read
// otherwise (TestQuickAgreesWithGeneral, and FuzzDecode checks it).
//
// # Which error is reported
//
// A record can be wrong in several ways; the decoder returns one *Error.
//
//  1. Syntax first: the decoder checks the whole record, even after it has
//     found a semantic problem, and any syntax error is ReasonNotJSON, at the
//     first byte that cannot belong to the record.
//  2. Then the problem that starts earliest in the record, among the values
//     that count (the last occurrence of each key). Within data, that is the
//     first element that is wrong.
//  3. Then a required field that is absent, in the order batch_id,
//     segment_id, data, reported at the closing brace.
//  4. Then ReasonSegment.
//
// # Encoders
//
// AppendSegment, AppendOutputStart, AppendOutputChunkStart, AppendInts,
// AppendCounted, AppendOutputEnd, AppendTextStart, AppendTextInts and
// AppendTextCounted append to dst and return the extended slice, as
// strconv.AppendInt does, and write no newline. An
// output record is built in pieces so that a huge batch streams out without
// ever being held whole.
package wire
