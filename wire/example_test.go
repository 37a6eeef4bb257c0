package wire_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/segmerge/segmerge/wire"
)

func ExampleDecoder_Decode() {
	var d wire.Decoder // reuse it: steady-state decoding does not allocate
	var s wire.Segment
	if err := d.Decode([]byte(`{"batch_id": 7, "segment_id": 3, "data": [1, 2, 2, 9]}`), &s); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.BatchID, s.SegmentID, s.Segments, s.Chunk, s.Last, s.Data)

	err := d.Decode([]byte(`{"batch_id": 7, "segment_id": 3, "data": [1, 2, 9, 2.5]}`), &s)
	var e *wire.Error
	if errors.As(err, &e) {
		fmt.Println(e.Reason, e.Field, e.Offset)
		fmt.Println(err)
	}
	// Output:
	// 7 3 0 0 true [1 2 2 9]
	// not-integer data[3] 51
	// wire: data[3]: 2.5 is not an integer (byte 51)
}

func ExampleAppendOutputStart() {
	// A merged batch, written as it is merged: head, runs of values, tail.
	line := wire.AppendOutputStart(nil, 7)
	line = wire.AppendInts(line, []int64{1, 1}, true)
	line = wire.AppendInts(line, []int64{2, 9}, false)
	line = wire.AppendOutputEnd(line)
	line = append(line, '\n')

	// The same batch in the human form.
	line = wire.AppendTextStart(line, 7)
	line = wire.AppendTextInts(line, []int64{1, 1, 2, 9})
	fmt.Println(string(line))
	// Output:
	// {"batch_id":7,"data":[1,1,2,9]}
	// batch 7: 1 1 2 9
}

func ExampleAppendSegment() {
	s := wire.Segment{BatchID: 7, SegmentID: 3, Segments: 10, Chunk: 0, Last: false, Data: []int64{1, 2}}
	fmt.Println(string(wire.AppendSegment(nil, &s)))
	s.Last = true
	fmt.Println(string(wire.AppendSegment(nil, &s)))
	// Output:
	// {"batch_id":7,"segment_id":3,"segments":10,"chunk":0,"last":false,"data":[1,2]}
	// {"batch_id":7,"segment_id":3,"segments":10,"data":[1,2]}
}

// counter is a DataFolder that counts values and keeps the largest.
type counter struct{ n, max int64 }

func (c *counter) Reset() { *c = counter{} }
func (c *counter) Add(vals []int64) {
	c.n += int64(len(vals))
	c.max = vals[len(vals)-1]
}

func ExampleOutputScanner() {
	file := strings.NewReader(`{"batch_id":7,"data":[1,1,2,9]}
{"batch_id":8,"data":[3,5,4]}
`)
	sc := wire.NewOutputScanner(file, 64<<10)
	for {
		var c counter
		s, err := sc.Scan(&c)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Printf("line %d: %v\n", sc.Line(), err)
			continue
		}
		fmt.Printf("line %d: batch %d, %d values up to %d\n", sc.Line(), s.BatchID, c.n, c.max)
	}
	// Output:
	// line 1: batch 7, 4 values up to 9
	// line 2: wire: data[2]: 4 is less than the value before it, 5 (byte 26)
}
