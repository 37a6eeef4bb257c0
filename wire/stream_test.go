package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// collect is a DataFolder that keeps what it is given and checks the
// order Add promises.
type collect struct {
	vals   []int64
	resets int
	err    error
}

func (c *collect) Reset() { c.vals, c.resets = c.vals[:0], c.resets+1 }

func (c *collect) Add(vals []int64) {
	if len(vals) == 0 {
		c.err = errors.New("Add with no values")
	}
	for _, v := range vals {
		if len(c.vals) > 0 && v < c.vals[len(c.vals)-1] {
			c.err = fmt.Errorf("Add gave %d after %d", v, c.vals[len(c.vals)-1])
		}
		c.vals = append(c.vals, v)
	}
}

// readers wrap the input of a scanner so that it arrives in every way a
// Reader may hand it over.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"bytewise", iotest.OneByteReader},
	{"halves", iotest.HalfReader},
	{"eof-with-data", iotest.DataErrReader},
}

// checkScan scans in with a buffer of size bytes and fails t unless every
// line comes out as bufio.Scanner and DecodeOutput make of it: the same
// lines, the same errors, the same records and data.
func checkScan(t *testing.T, in []byte, size int, wrap func(io.Reader) io.Reader) {
	t.Helper()
	ref := bufio.NewScanner(bytes.NewReader(in))
	ref.Buffer(make([]byte, 64), len(in)+1)
	sc := NewOutputScanner(wrap(bytes.NewReader(in)), size)
	var d Decoder
	var want Segment
	var got collect
	for line := int64(1); ; line++ {
		more := ref.Scan()
		seg, err := sc.Scan(&got)
		if !more {
			if ref.Err() != nil {
				t.Fatal(ref.Err())
			}
			if err != io.EOF {
				t.Fatalf("%q: line %d: bufio finds no more lines, the scanner %+v %v", in, line, seg, err)
			}
			if _, err := sc.Scan(&got); err != io.EOF {
				t.Fatalf("%q: Scan after io.EOF: %v", in, err)
			}
			return
		}
		werr := d.DecodeOutput(ref.Bytes(), &want)
		if sc.Line() != line {
			t.Fatalf("%q: Line() = %d, want %d", in, sc.Line(), line)
		}
		if werr != nil {
			var a, b *Error
			if !errors.As(werr, &a) || !errors.As(err, &b) || *a != *b {
				t.Fatalf("%q line %d (%q): scanner %v, DecodeOutput %v", in, line, ref.Bytes(), err, werr)
			}
			continue
		}
		if err != nil || got.err != nil || seg.BatchID != want.BatchID || seg.Chunk != want.Chunk || seg.Last != want.Last || seg.Data != nil || !slices.Equal(got.vals, want.Data) {
			t.Fatalf("%q line %d (%q): scanner %+v %v data %v (%v), DecodeOutput %+v", in, line, ref.Bytes(), seg, err, got.vals, got.err, want)
		}
		if got.resets == 0 {
			t.Fatalf("%q line %d: data taken without Reset", in, line)
		}
	}
}

// streamCases are lines whose trouble is how a stream cuts them.
var streamCases = []string{
	"",
	" ",
	"\r",
	"{",
	`{"batch_id":1,"data":[1,2,3]}` + "\r",
	`{"batch_id":1,"data":[1,2,3]}` + "\r\r",
	"{\"batch_id\":1,\r\"data\":[1,2,3]}",
	`{"batch_id":1,"data":[1,2,` + strings.Repeat("3,", 40) + `4]}`,
	`{"batch_id":1,"data":[1,2,-`,
	`{"batch_id":1,"data":[1,2,3`,
	`{"batch_id":1,"data":[1,2,3.`,
	`{"batch_id":1,"data":[1,2,3e`,
	`{"batch_id":1,"data":[1,2,3e+`,
	`{"batch_id":1,"data":[1,2,3,`,
	`{"batch_id":1,"data":[1,2,3 `,
	`{"batch_id":1,"data":[1,2,3]`,
	`{"batch_id":1,"data":[1,2,1` + strings.Repeat("0", 100) + `]}`,
	`{"batch_id":1,"data":[1,2,3.` + strings.Repeat("5", 100) + `]}`,
	`{"batch_id":1,"data":[1,2,3e` + strings.Repeat("5", 100) + `]}`,
	`{"batch_id":1,"data":[1,2,-` + strings.Repeat("9", 60) + `]}`,
	`{"batch_id":1,"data":[5,2` + strings.Repeat("0", 30) + `,-0]}`,
	`{"batch_id":1,"data":[5,-0]}`,
	`{"batch_id":1,"data":[5, "x", 1]}`,
	`{"batch_id":1,"data":[5, {"x":[1,2]}, 1]}`,
	`{"batch_id":1` + strings.Repeat("0", 60) + `,"data":[]}`,
	`{"batch_id":-1` + strings.Repeat("0", 60) + `,"data":[]}`,
	`{"batch_id":1.` + strings.Repeat("0", 60) + `,"data":[]}`,
	`{"batch_id":1,"chunk":01,"data":[]}`,
	`{"batch_id":1,"data":[01]}`,
	`{"batch_id":1,"data":[1],"` + strings.Repeat("k", 200) + `":1}`,
	`{"batch_id":1,"data":[1],"` + strings.Repeat(`\u0064`, 16) + `":1}`,
	`{"\u0062\u0061\u0074\u0063\u0068\u005f\u0069\u0064":1,"\u0064\u0061\u0074\u0061":[7]}`,
	`{"batch_id":1,"\u0064\u0061\u0074\u0061\u0020":[7],"data":[]}`,
	`{"batch_id":1,"data":[1],"note":"` + strings.Repeat("ab\\\"\\u00e9", 30) + `"}`,
	`{"batch_id":1,"data":[1],"note":"abc\u00` + "\n" + `"}`,
	`{"batch_id":1,"data":[1],"x":[` + strings.Repeat(`{"a":[1,"b",true,null]},`, 10) + `{}]}`,
	`{"batch_id":1,"data":[1],"x":tru`,
	`{"batch_id":1,"data":[1],"x":nul}`,
	`{"batch_id":1,"data":[1]} x`,
	`[1,2,3]`,
	`[1,2,3] x`,
	`"batch_id"`,
	`{"batch_id":1}`,
	`{"data":[1]}`,
	`{"batch_id":1,"data":[2,1],"data":[1,2]}`,
	`{"batch_id":1,"data":[1,2],"data":[2,1]}`,
	`{"batch_id":1,"data":[1,2],"data":null}`,
	`{"batch_id":1,"data":[1,2],"data":"x"}`,
	`{"batch_id":1,"chunk":3,"last":false,"data":[1,2]}`,
	`{"batch_id":1,"segment_id":"x","segments":0,"data":[1]}`,
	`{"batch_id":1,"data":[1],"deep":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
}

// TestOutputScannerMatchesDecodeOutput scans the decoder's table, the fuzz
// seeds and lines cut in awkward places, through buffers as small as 16
// bytes and readers that hand a byte at a time, and wants what bufio.Scanner
// and DecodeOutput make of them.
func TestOutputScannerMatchesDecodeOutput(t *testing.T) {
	var lines []string
	for _, tc := range decodeCases {
		lines = append(lines, tc.in)
	}
	lines = append(lines, fuzzSeeds...)
	lines = append(lines, streamCases...)
	all := strings.Join(lines, "\n")
	inputs := []string{all, all + "\n", strings.Join(lines, "\r\n") + "\r\n", "", "\n", "\n\n", "\r\n\r"}
	for _, l := range streamCases {
		inputs = append(inputs, l, l+"\n", l+"\r\n", l+"\n"+l)
	}
	for _, size := range []int{0, 17, 31, 64, 4096} {
		for _, rd := range readers {
			t.Run(fmt.Sprintf("%d-%s", size, rd.name), func(t *testing.T) {
				for _, in := range inputs {
					checkScan(t, []byte(in), size, rd.wrap)
				}
			})
		}
	}
}

// A batch far longer than the buffer streams through it: every value comes
// out, in runs, and the memory the scanner allocates does not grow with the
// line.
func TestOutputScannerLongLine(t *testing.T) {
	line := func(n int) []byte {
		b := AppendOutputStart(nil, 3)
		for k := range n {
			b = AppendInts(b, []int64{int64(k) * 1_000_003}, k == 0)
		}
		return append(AppendOutputEnd(b), '\n')
	}
	long := line(300_000)
	var c collect
	sc := NewOutputScanner(bytes.NewReader(long), 4096)
	seg, err := sc.Scan(&c)
	if err != nil || c.err != nil || seg.BatchID != 3 || len(c.vals) != 300_000 || c.vals[299_999] != 299_999*1_000_003 {
		t.Fatalf("%+v %v %v: %d values", seg, err, c.err, len(c.vals))
	}
	allocs := func(in []byte) float64 {
		r := bytes.NewReader(in)
		var sum sum
		return testing.AllocsPerRun(5, func() {
			r.Reset(in)
			sc := NewOutputScanner(r, 4096)
			if _, err := sc.Scan(&sum); err != nil {
				t.Fatal(err)
			}
		})
	}
	if short, long := allocs(line(10)), allocs(long); long != short {
		t.Fatalf("%v allocations for a line of 300,000 values, %v for one of 10", long, short)
	}
}

// sum is a DataFolder that adds values up.
type sum struct{ n, total int64 }

func (s *sum) Reset()           { *s = sum{} }
func (s *sum) Add(vals []int64) { s.n += int64(len(vals)); s.total += vals[len(vals)-1] }

// failing reads from r, then fails.
type failing struct {
	r   io.Reader
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestOutputScannerReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	in := `{"batch_id":1,"data":[1,2]}` + "\n" + `{"batch_id":2,"data":[1,2`
	sc := NewOutputScanner(&failing{strings.NewReader(in), boom}, 16)
	var s sum
	if seg, err := sc.Scan(&s); err != nil || seg.BatchID != 1 {
		t.Fatalf("first line: %+v %v", seg, err)
	}
	for range 2 {
		if _, err := sc.Scan(&s); err != boom {
			t.Fatalf("got %v, want the read error, sticky", err)
		}
	}
	// Reset starts over, the error forgotten.
	sc.Reset(strings.NewReader(in))
	if seg, err := sc.Scan(&s); err != nil || seg.BatchID != 1 || sc.Line() != 1 {
		t.Fatalf("after Reset: %+v %v line %d", seg, err, sc.Line())
	}
}

// burst hands over all its bytes and an error in one Read.
type burst struct {
	b   []byte
	err error
}

func (r *burst) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	if len(r.b) == 0 {
		return n, r.err
	}
	return n, nil
}

// Lines read whole along with a failure are scanned before the failure is
// reported; a line the failure cuts is not.
func TestOutputScannerReadErrorWithData(t *testing.T) {
	boom := errors.New("disk on fire")
	for _, tail := range []string{"", `{"batch_id":3,"data":[1`} {
		in := `{"batch_id":1,"data":[1,2]}` + "\n" + `{"batch_id":2,"data":[1,2]}` + "\n" + tail
		sc := NewOutputScanner(&burst{[]byte(in), boom}, 4096)
		var s sum
		for id := int64(1); id <= 2; id++ {
			if seg, err := sc.Scan(&s); err != nil || seg.BatchID != id {
				t.Fatalf("tail %q, line %d: %+v %v", tail, id, seg, err)
			}
		}
		for range 2 {
			if _, err := sc.Scan(&s); err != boom {
				t.Fatalf("tail %q: got %v, want the read error, sticky", tail, err)
			}
		}
	}
}

// A reader that returns nothing, forever, does not hang the scanner.
func TestOutputScannerNoProgress(t *testing.T) {
	sc := NewOutputScanner(emptyReader{}, 16)
	if _, err := sc.Scan(&sum{}); err != io.ErrNoProgress {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// FuzzOutputScanner holds OutputScanner to bufio.Scanner and DecodeOutput
// on any input, cut by any buffer size.
func FuzzOutputScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s+"\n"+s), uint8(16))
	}
	for _, s := range streamCases {
		if len(s) < 1000 {
			f.Add([]byte(s), uint8(20))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, size uint8) {
		checkScan(t, b, int(size), readers[int(size)%len(readers)].wrap)
	})
}

func BenchmarkOutputScanner(b *testing.B) {
	record := append(benchRecord(10000, 0, 1e9), '\n')
	in := bytes.Repeat(record, 10)
	r := bytes.NewReader(in)
	sc := NewOutputScanner(r, 64<<10)
	var s sum
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(in)
		sc.Reset(r)
		for {
			if _, err := sc.Scan(&s); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(100000*b.N)/b.Elapsed().Seconds()/1e6, "Mints/s")
}
