package verify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmerge/segmerge/gen"
	"github.com/segmerge/segmerge/merge"
	"github.com/segmerge/segmerge/wire"
)

// input is a log of three 2-segment batches; batch 3 lacks segment 1, so it
// is incomplete and not expected in the output.
const input = `{"batch_id":0,"segment_id":0,"segments":2,"data":[1,5]}
{"batch_id":0,"segment_id":1,"segments":2,"data":[2]}
{"batch_id":1,"segment_id":1,"segments":2,"data":[]}
{"batch_id":1,"segment_id":0,"segments":2,"chunk":0,"last":false,"data":[3,4]}
{"batch_id":1,"segment_id":0,"segments":2,"chunk":1,"last":true,"data":[4,9]}
{"batch_id":2,"segment_id":0,"segments":2,"data":[7]}
{"batch_id":2,"segment_id":1,"segments":2,"data":[7]}
{"batch_id":3,"segment_id":0,"segments":2,"data":[8]}
`

var good = []string{
	`{"batch_id":0,"data":[1,2,5]}`,
	`{"batch_id":1,"data":[3,4,4,9]}`,
	`{"batch_id":2,"data":[7,7]}`,
}

// run verifies the output file of lines, each ended by a newline, against
// input.
func run(t *testing.T, lines []string) *Report {
	t.Helper()
	return runWith(t, lines, Config{})
}

// runWith verifies lines, each ended by a newline, as an output file
// against input with cfg.
func runWith(t *testing.T, lines []string, cfg Config) *Report {
	t.Helper()
	body := strings.Join(lines, "\n")
	if len(lines) > 0 {
		body += "\n"
	}
	return runFileWith(t, body, cfg)
}

// runFile verifies the output file body against input.
func runFile(t *testing.T, body string) *Report {
	t.Helper()
	return runFileWith(t, body, Config{})
}

// runFileWith verifies the output file body against input with cfg.
func runFileWith(t *testing.T, body string, cfg Config) *Report {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	out := filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte(input), 0o644)
	os.WriteFile(out, []byte(body), 0o644)
	cfg.InputLog, cfg.OutFile = in, out
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestVerifyGood(t *testing.T) {
	rep := run(t, good)
	if !rep.OK() || rep.Batches != 3 || rep.Integers != 9 || rep.Incomplete != 1 {
		t.Fatalf("%s %+v", rep.Summary(), rep)
	}
	if !strings.Contains(rep.Summary(), "verify: OK: 3 batches, 9 integers") {
		t.Fatalf("summary %q", rep.Summary())
	}
	// Other spellings of the same output pass too: CRLF line ends, no
	// newline after the last line, a data key given twice (the last counts,
	// as for any JSON object), spaces, unknown fields.
	for _, body := range []string{
		strings.Join(good, "\r\n") + "\r\n",
		strings.Join(good, "\n"),
		good[0] + "\n" + `{"batch_id":1,"data":[9,3],"data":[3,4,4,9]}` + "\n" + good[2] + "\n",
		good[0] + "\n" + ` { "data" : [3, 4, 4, 9], "batch_id" : 1, "note": {"x": [null]} } ` + "\n" + good[2] + "\n",
	} {
		if rep := runFile(t, body); !rep.OK() || rep.Batches != 3 || rep.Integers != 9 {
			t.Errorf("%q: %s %v", body, rep.Summary(), rep.Problems)
		}
	}
}

func TestVerifyCatches(t *testing.T) {
	tests := []struct {
		name  string
		lines []string // the file's lines, each ended by a newline, or
		file  string   // the whole file, if set
		batch int64
		msg   string
	}{
		{"torn last line", nil, good[0] + "\n" + good[1] + "\n" + `{"batch_id":2,"data":[7,`, -1, "line 3: wire: unexpected end of input (byte 24)"},
		{"torn inside a number", []string{good[0], good[1], `{"batch_id":2,"data":[7,-`}, "", -1, "line 3: wire: unexpected end of input (byte 25)"},
		{"string in data", []string{good[0], `{"batch_id":1,"data":[3,"4",4,9]}`, good[2]}, "", -1, "line 2: wire: data[1]: got string, want integer (byte 24)"},
		{"null in data", []string{good[0], `{"batch_id":1,"data":[3,4,null,9]}`, good[2]}, "", -1, "line 2: wire: data[2]: got null, want integer"},
		{"fraction in data", []string{good[0], `{"batch_id":1,"data":[3,4,4.5,9]}`, good[2]}, "", -1, "line 2: wire: data[2]: 4.5 is not an integer"},
		{"huge number in data", []string{good[0], `{"batch_id":1,"data":[3,4,4,9` + strings.Repeat("9", 100) + `]}`, good[2]}, "", -1, "data[3]: 9999999999999999999999999999999999999999... is outside the int64 range"},
		{"unsorted at the end", []string{good[0], `{"batch_id":1,"data":[3,4,9,4]}`, good[2]}, "", -1, "line 2: wire: data[3]: 4 is less than the value before it, 9 (byte 28)"},
		{"garbage after the record", []string{good[0], good[1] + ` x`, good[2]}, "", -1, "line 2: wire: invalid character 'x' after top-level value"},
		{"empty line", []string{good[0], "", good[1], good[2]}, "", -1, "line 2: wire: unexpected end of input (byte 0)"},
		{"not an object", []string{good[0], `[3,4,4,9]`, good[2]}, "", -1, "line 2: wire: top level is not an object"},
		{"no batch id", []string{good[0], `{"data":[3,4,4,9]}`, good[2]}, "", -1, "line 2: wire: batch_id: required field is absent"},
		{"no data", []string{good[0], `{"batch_id":1}`, good[2]}, "", -1, "line 2: wire: data: required field is absent"},
		{"data not an array", []string{good[0], `{"batch_id":1,"data":{"0":3}}`, good[2]}, "", -1, "line 2: wire: data: got object, want array"},
		{"text format after line 1", []string{good[0], "batch 1: 3 4 4 9", good[2]}, "", -1, "line 2: wire: invalid character 'b' looking for beginning of value"},
		{"dropped", []string{good[0], good[2]}, "", 1, "missing"},
		{"duplicated", []string{good[0], good[1], good[1], good[2]}, "", 1, "appears 2 times"},
		{"reordered", []string{good[1], good[0], good[2]}, "", 0, "not ascending"},
		{"altered value", []string{good[0], `{"batch_id":1,"data":[3,4,5,9]}`, good[2]}, "", 1, "fingerprint"},
		{"altered length", []string{good[0], `{"batch_id":1,"data":[3,4,9]}`, good[2]}, "", 1, "3 integers"},
		{"incomplete batch emitted", []string{good[0], good[1], good[2], `{"batch_id":3,"data":[8]}`}, "", 3, "not a complete batch"},
		{"unknown batch", []string{good[0], good[1], good[2], `{"batch_id":99,"data":[]}`}, "", 99, "not a complete batch"},
		{"not json", []string{good[0], good[1], good[2], `{"batch_id":`}, "", -1, "line 4"},
		{"unsorted line", []string{good[0], `{"batch_id":1,"data":[9,3,4,4]}`, good[2]}, "", -1, "line 2: wire: data[1]: 3 is less than the value before it, 9"},
		{"empty output", nil, "", 0, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rep *Report
			if tt.file != "" {
				rep = runFile(t, tt.file)
			} else {
				rep = run(t, tt.lines)
			}
			if rep.OK() {
				t.Fatalf("verify passed: %s", rep.Summary())
			}
			p := rep.Problems[0]
			if p.Batch != tt.batch || !strings.Contains(p.Msg, tt.msg) {
				t.Fatalf("first problem batch %d %q, want batch %d containing %q (all: %v)", p.Batch, p.Msg, tt.batch, tt.msg, rep.Problems)
			}
			if !strings.HasPrefix(rep.Summary(), "verify: FAILED") {
				t.Fatalf("summary %q", rep.Summary())
			}
		})
	}
}

// Regenerating the input from the producer's spec expects what the input
// log of the same data expects: the output of a 7-batch run of chunked
// segments verifies against both, and not against another seed's data.
func TestVerifyGenerated(t *testing.T) {
	spec := gen.Spec{Segments: 4, MinLen: 0, MaxLen: 30, MinValue: -5, MaxValue: 40, Seed: 11}
	const first, batches = 3, 7
	var log, out []byte
	var lens []int
	var g gen.Segment
	for id := int64(first); id < first+batches; id++ {
		lens = spec.Batch(id, lens)
		var runs [][]int64
		for s, n := range lens {
			g.Reset(spec, id, int64(s), n)
			var run []int64
			for c := int64(0); ; c++ {
				chunk := g.Fill(nil, 4)
				run = append(run, chunk...)
				seg := wire.Segment{BatchID: id, SegmentID: int64(s), Segments: int64(spec.Segments), Chunk: c, Last: g.Left() == 0, Data: chunk}
				log = append(wire.AppendSegment(log, &seg), '\n')
				if seg.Last {
					break
				}
			}
			runs = append(runs, run)
		}
		out = wire.AppendOutputStart(out, id)
		out = wire.AppendInts(out, merge.Merge(nil, runs...), true)
		out = append(wire.AppendOutputEnd(out), '\n')
	}
	dir := t.TempDir()
	in, res := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, log, 0o644)
	os.WriteFile(res, out, 0o644)

	for _, cfg := range []Config{
		{InputLog: in, OutFile: res},
		{Generated: &Generated{Spec: spec, First: first, Batches: batches}, OutFile: res},
	} {
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Batches != batches {
			t.Fatalf("generated=%v: %s", cfg.Generated != nil, rep.Summary())
		}
	}
	other := spec
	other.Seed++
	rep, err := Run(context.Background(), Config{Generated: &Generated{Spec: other, First: first, Batches: batches}, OutFile: res})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("output of seed 11 verified against seed 12")
	}
}

// TestVerifyLongLineInBoundedMemory verifies a file whose one line is a
// batch of 4 segments of 5,000,000 integers: about 220 MB of JSON, 160 MB
// of values (a tenth of that under the race detector). The input is
// regenerated from its spec, which streams too, so everything verify
// allocates is the file side's. It must allocate, over the whole run, less
// than 32 MiB and less than an eighth of the line, and the heap sampled as
// it runs must stay as far below the line's size.
func TestVerifyLongLineInBoundedMemory(t *testing.T) {
	segLen := 5_000_000
	if raceEnabled || testing.Short() {
		segLen = 500_000 // the race detector makes the long run slow
	}
	spec := gen.Spec{Segments: 4, MinLen: segLen, MaxLen: segLen, MinValue: 0, MaxValue: 1e10, Seed: 3}
	const id = 5
	out := filepath.Join(t.TempDir(), "out.jsonl")
	size := writeGenerated(t, out, spec, id)
	t.Logf("one line of %d integers, %.1f MB", 4*segLen, float64(size)/1e6)

	runtime.GC()
	base := sampleHeap()
	var (
		wg   sync.WaitGroup
		stop = make(chan struct{})
		peak uint64
		n    int
	)
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, sampleHeap().heap)
			n++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	start := time.Now()
	rep, err := Run(context.Background(), Config{OutFile: out, Generated: &Generated{Spec: spec, First: id, Batches: 1}})
	took := time.Since(start)
	close(stop)
	wg.Wait()
	after := sampleHeap()
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Batches != 1 || rep.Integers != int64(4*segLen) {
		t.Fatalf("%s %v", rep.Summary(), rep.Problems)
	}
	allocated := after.allocs - base.allocs
	t.Logf("verified in %v; allocated %.2f MiB in all; heap %.2f MiB before, peak %.2f MiB over %d samples",
		took.Round(time.Millisecond), mib(allocated), mib(base.heap), mib(peak), n)
	limit := min(32<<20, uint64(size)/8)
	if allocated > limit {
		t.Errorf("verify allocated %.1f MiB for a line of %.1f MiB, want under %.1f MiB", mib(allocated), mib(uint64(size)), mib(limit))
	}
	if peak > base.heap+limit {
		t.Errorf("peak heap %.1f MiB, %.1f MiB above the heap before, want under %.1f MiB above", mib(peak), mib(peak-base.heap), mib(limit))
	}
}

// writeGenerated writes batch id of spec, merged, as one output line to
// path, a few thousand values at a time, and returns the file's size.
func writeGenerated(t *testing.T, path string, spec gen.Spec, id int64) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	lens := spec.Batch(id, nil)
	srcs := make([]merge.Source, len(lens))
	for s, n := range lens {
		g := &genSource{buf: make([]int64, 0, genChunk)}
		g.g.Reset(spec, id, int64(s), n)
		srcs[s] = g
	}
	m := merge.New(srcs...)
	buf := make([]int64, genChunk)
	line := wire.AppendOutputStart(nil, id)
	for started := false; ; {
		n, err := m.Read(buf)
		line = wire.AppendInts(line, buf[:n], !started)
		started = started || n > 0
		if len(line) > 64<<10 || err != nil {
			if _, werr := w.Write(line); werr != nil {
				t.Fatal(werr)
			}
			line = line[:0]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	line = append(wire.AppendOutputEnd(line), '\n')
	if _, err := w.Write(line); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

type heapSample struct{ heap, allocs uint64 }

var heapMetrics = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"}, // live and not yet swept
	{Name: "/gc/heap/allocs:bytes"},              // allocated since the process started
}

// sampleHeap reads the heap metrics. It is called from two goroutines in
// turn, never at once.
func sampleHeap() heapSample {
	metrics.Read(heapMetrics)
	return heapSample{heapMetrics[0].Value.Uint64(), heapMetrics[1].Value.Uint64()}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// --unordered takes batches in any order and still checks each once.
func TestVerifyUnordered(t *testing.T) {
	reordered := []string{good[2], good[0], good[1]}
	if rep := runWith(t, reordered, Config{Unordered: true}); !rep.OK() || rep.Batches != 3 {
		t.Fatalf("reordered, --unordered: %s %v", rep.Summary(), rep.Problems)
	}
	for _, lines := range [][]string{
		{good[2], good[0], good[1], good[0]}, // a repeat
		{good[2], good[1]},                   // a loss
	} {
		if rep := runWith(t, lines, Config{Unordered: true}); rep.OK() {
			t.Fatalf("%v passed --unordered: %s", lines, rep.Summary())
		}
	}
}

// An input log being written, or left by a producer killed as it wrote,
// ends in a partial line: verify ignores it and says so, takes a last line
// that lacks only its newline, and still refuses a bad line anywhere else.
func TestVerifyInputLogPartialLastLine(t *testing.T) {
	const torn = `{"batch_id":3,"segment_id":1,"da`
	const seg31 = `{"batch_id":3,"segment_id":1,"segments":2,"data":[9]}`
	tests := []struct {
		name    string
		log     string
		out     []string
		partial int64  // Report.Partial
		err     string // Run's error, if any
	}{
		{"whole lines", input, good, 0, ""},
		{"partial last line", input + torn, good, int64(len(torn)), ""},
		{"partial last line with CR", input + torn + "\r", good, int64(len(torn)), ""},
		{"last line without its newline", input + seg31, append(good[:3:3], `{"batch_id":3,"data":[8,9]}`), 0, ""},
		{"torn line inside", input + torn + "\n" + seg31 + "\n", good, 0, "line 9: wire: unexpected end of input"},
		{"only a partial line", torn, nil, 0, "holds no batch, only a partial line (32 bytes): nothing to verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
			os.WriteFile(in, []byte(tt.log), 0o644)
			body := strings.Join(tt.out, "\n")
			if len(tt.out) > 0 {
				body += "\n"
			}
			os.WriteFile(out, []byte(body), 0o644)
			rep, err := Run(context.Background(), Config{InputLog: in, OutFile: out})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Partial != tt.partial {
				t.Fatalf("Partial %d, want %d (%s)", rep.Partial, tt.partial, rep.Summary())
			}
			if len(tt.out) > 0 && (!rep.OK() || rep.Batches != int64(len(tt.out))) {
				t.Fatalf("%s %v", rep.Summary(), rep.Problems)
			}
			if said := strings.Contains(rep.Summary(), "partial line ("); said != (tt.partial > 0) {
				t.Fatalf("summary %q says the partial line: %v, want %v", rep.Summary(), said, tt.partial > 0)
			}
		})
	}
}

// A new user's mistakes get a message that says what is wrong with which
// file, once, not a problem for every line.
func TestVerifyWrongFiles(t *testing.T) {
	var text, output strings.Builder
	for i := range 1100 {
		fmt.Fprintf(&text, "batch %d: 1 2 3\n", i)
	}
	for _, l := range good {
		output.WriteString(l + "\n")
	}
	tests := []struct {
		name    string
		in, out string
		is      error  // errors.Is the error, if set
		want    string // in the error, with {in} and {out} the two paths
	}{
		{"text output", input, text.String(), ErrTextFormat,
			`output file {out} is not JSON Lines output (it looks like the text format): line 1 is "batch 0: 1 2 3"`},
		{"swapped", output.String(), input, ErrSwapped,
			"the input log and the output file look swapped: input log {in} line 1 is an output record (batch_id and data, no segment_id), and output file {out} line 1 an input record (it has segment_id)"},
		{"output as the input log", output.String(), output.String(), nil,
			"input log {in} line 1 is an output record (batch_id and data, no segment_id), not a record the producer writes: is it the consumer's output?"},
		{"text output as the input log", text.String(), output.String(), nil,
			"input log {in} line 1 is an output line in the text format, not a record the producer writes"},
		{"input log as the output", input, input, nil,
			"output file {out} is not the consumer's output: line 1 is an input record (it has segment_id): is it the producer's input log?"},
		{"both empty", "", "", nil,
			"input log {in} and output file {out} are both empty: nothing to verify (nothing expected and nothing found is no pass)"},
		{"empty input log", "", output.String(), nil, "input log {in} is empty: nothing to verify"},
		{"no complete batch", `{"batch_id":3,"segment_id":0,"segments":2,"data":[8]}` + "\n", "", nil,
			"input log {in} holds no complete batch (1 incomplete batch): nothing to verify"},
		{"bad input line", input + "{\n", output.String(), nil, "input log {in} line 9: wire: unexpected end of input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
			os.WriteFile(in, []byte(tt.in), 0o644)
			os.WriteFile(out, []byte(tt.out), 0o644)
			rep, err := Run(context.Background(), Config{InputLog: in, OutFile: out})
			if err == nil {
				t.Fatalf("no error; report %s %v", rep.Summary(), rep.Problems)
			}
			want := strings.NewReplacer("{in}", in, "{out}", out).Replace(tt.want)
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// A report keeps perKind problems of each kind and counts the rest: 1,100
// bad lines and 9 missing batches make 6 lines of detail, not 1,109.
func TestVerifyProblemsPerKind(t *testing.T) {
	var in, out strings.Builder
	for id := range 10 {
		fmt.Fprintf(&in, `{"batch_id":%d,"segment_id":0,"segments":1,"data":[%d]}`+"\n", id, id)
	}
	fmt.Fprintf(&out, `{"batch_id":0,"data":[0]}`+"\n")
	for range 1100 {
		out.WriteString("[1]\n")
	}
	dir := t.TempDir()
	inPath, outPath := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(inPath, []byte(in.String()), 0o644)
	os.WriteFile(outPath, []byte(out.String()), 0o644)
	rep, err := Run(context.Background(), Config{InputLog: inPath, OutFile: outPath})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count() != 1109 || len(rep.Problems) != 6 {
		t.Fatalf("%d problems, %d kept, want 1109 and 6: %v", rep.Count(), len(rep.Problems), rep.Problems)
	}
	want := []string{
		outPath + " line 2: wire: top level is not an object (byte 0)",
		outPath + " line 3: wire: top level is not an object (byte 0)",
		outPath + " line 4: wire: top level is not an object (byte 0)",
		"... and 1097 more lines that fail the same way (not-json)",
		"batch 1: missing from the output",
		"batch 2: missing from the output",
		"batch 3: missing from the output",
		"... and 6 more batches missing from the output",
	}
	if got := rep.Details(); !slices.Equal(got, want) {
		t.Fatalf("details:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := rep.Summary(); !strings.HasPrefix(s, "verify: FAILED: 1109 problems in 10 expected batches; first: "+outPath+" line 2:") {
		t.Fatalf("summary %q", s)
	}
}

// Counts of one say so in the singular.
func TestSummaryPlurals(t *testing.T) {
	one := Problem{Batch: 0, Msg: "missing from the output", kind: kindMissing}
	tests := []struct {
		rep  Report
		want string
	}{
		{Report{Batches: 1, Integers: 1, Expected: 1}, "verify: OK: 1 batch, 1 integer, each once and equal to its input"},
		{Report{Batches: 2, Integers: 0, Expected: 2, Incomplete: 1}, "verify: OK: 2 batches, 0 integers, each once and equal to its input (1 batch incomplete in the input log, not expected)"},
		{Report{Batches: 2, Integers: 5, Expected: 2, Incomplete: 3, Partial: 1}, "verify: OK: 2 batches, 5 integers, each once and equal to its input (3 batches incomplete in the input log, not expected); the input log ends in a partial line (1 byte), ignored"},
		{Report{Expected: 1, Problems: []Problem{one}}, "verify: FAILED: 1 problem in 1 expected batch; first: batch 0: missing from the output"},
		{Report{Expected: 0, Problems: []Problem{{Batch: -1, Msg: "out line 1: wire: x", kind: "line not-json", More: 1}}}, "verify: FAILED: 2 problems in 0 expected batches; first: out line 1: wire: x"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.rep.Summary(); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("summary\n%q\nwant it to start\n%q", got, tt.want)
			}
		})
	}
	if got := (&Report{Problems: []Problem{{Batch: 0, Msg: "x", kind: kindMissing, More: 1}}}).Details(); got[1] != "... and 1 more batch missing from the output" {
		t.Fatalf("details %q", got)
	}
	rep := runWith(t, []string{good[0], `{"batch_id":1,"data":[3]}`, good[2]}, Config{})
	if p := rep.Problems[0]; !strings.Contains(p.Msg, ": 1 integer (fingerprint") {
		t.Fatalf("problem %q", p.Msg)
	}
}
