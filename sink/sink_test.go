package sink

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriterFormats(t *testing.T) {
	long := make([]int64, 10000)
	for i := range long {
		long[i] = int64(i)
	}
	tests := []struct {
		name   string
		format Format
		writes [][]int64
		want   string
	}{
		{"jsonl", JSONL, [][]int64{{1, 1}, {2, 9}}, `{"batch_id":7,"data":[1,1,2,9]}` + "\n"},
		{"jsonl empty", JSONL, nil, `{"batch_id":7,"data":[]}` + "\n"},
		{"jsonl empty write first", JSONL, [][]int64{{}, {3}}, `{"batch_id":7,"data":[3]}` + "\n"},
		{"text", Text, [][]int64{{1, 1}, {2, 9}}, "batch 7: 1 1 2 9\n"},
		{"text empty", Text, nil, "batch 7:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out, tt.format, false)
			w.Begin(7)
			for _, v := range tt.writes {
				w.Write(v)
			}
			w.End()
			if err := w.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("got %q want %q", out.String(), tt.want)
			}
			// The same line rendered ahead with the format's Append
			// methods, and written whole, is the same bytes.
			line := tt.format.AppendStart(nil, 7)
			first := true
			for _, v := range tt.writes {
				line = tt.format.AppendValues(line, v, first)
				first = first && len(v) == 0
			}
			line = tt.format.AppendEnd(line)
			var ahead bytes.Buffer
			lw := NewWriter(&ahead, tt.format, false)
			if err := lw.WriteLine(7, line); err != nil {
				t.Fatal(err)
			}
			lw.Flush(context.Background())
			if ahead.String() != tt.want {
				t.Fatalf("WriteLine: got %q want %q", ahead.String(), tt.want)
			}
		})
	}
	// A long batch written in pieces is one line with every value.
	var out bytes.Buffer
	w := NewWriter(&out, JSONL, false)
	w.Begin(1)
	w.Write(long[:3])
	w.Write(long[3:])
	w.End()
	w.Close()
	if strings.Count(out.String(), "\n") != 1 || strings.Count(out.String(), ",") != len(long) { // one comma is in the header
		t.Fatalf("long batch: %d lines, %d commas", strings.Count(out.String(), "\n"), strings.Count(out.String(), ","))
	}
}

// WriteLine skips the batches SkipThrough names, as Begin does, and counts
// them.
func TestWriteLineSkips(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, JSONL, false)
	w.SkipThrough(1)
	for id := range int64(3) {
		line := JSONL.AppendEnd(JSONL.AppendValues(JSONL.AppendStart(nil, id), []int64{id}, true))
		if err := w.WriteLine(id, line); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush(context.Background())
	if want := `{"batch_id":2,"data":[2]}` + "\n"; out.String() != want || w.Skipped() != 2 {
		t.Fatalf("wrote %q, skipped %d; want %q, skipped 2", out.String(), w.Skipped(), want)
	}
}

func TestCreateAndMulti(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	f, err := Create(path, JSONL)
	if err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	m := Multi{f, NewWriter(&console, Text, true)}
	m.Begin(3)
	m.Write([]int64{4, 5})
	m.End()
	if console.String() != "batch 3: 4 5\n" { // flushed at End, before Flush
		t.Fatalf("console %q", console.String())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != `{"batch_id":3,"data":[4,5]}`+"\n" {
		t.Fatalf("file %q", b)
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "jsonl or text") {
		t.Fatalf("ParseFormat(xml): %v", err)
	}
}

// TestAbortCutsTheBatch checks that a batch aborted after part of it reached
// the file (and was flushed) leaves no trace, for a new file and a resumed
// one, and that the lines after it are whole.
func TestAbortCutsTheBatch(t *testing.T) {
	big := make([]int64, 200_000) // several buffers' worth: most of it reaches the file
	for i := range big {
		big[i] = int64(i)
	}
	for _, resume := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "out.jsonl")
		w, err := Create(path, JSONL)
		if err != nil {
			t.Fatal(err)
		}
		if resume {
			must(t, w.Begin(0), w.Write([]int64{5}), w.End(), w.Close())
			if w, _, err = Open(path, JSONL, false); err != nil {
				t.Fatal(err)
			}
		}
		must(t, w.Begin(1), w.Write([]int64{1, 2}), w.End())
		must(t, w.Begin(2), w.Write(big), w.Flush(context.Background()))
		if fi, _ := os.Stat(path); fi.Size() < 100_000 {
			t.Fatalf("only %d bytes reached the file before the abort: the test shows nothing", fi.Size())
		}
		must(t, w.Abort())
		must(t, w.Begin(3), w.Write([]int64{3}), w.End(), w.Close())
		got, _ := os.ReadFile(path)
		want := `{"batch_id":1,"data":[1,2]}` + "\n" + `{"batch_id":3,"data":[3]}` + "\n"
		if resume {
			want = `{"batch_id":0,"data":[5]}` + "\n" + want
		}
		if string(got) != want {
			t.Fatalf("resume=%v: file is %q..., want %q", resume, got[:min(len(got), 200)], want)
		}
	}
	// Aborted before anything of it is flushed: the batches before it,
	// still buffered, stay, and the file is not cut back over them.
	for _, n := range []int{1, 3000, 200_000} { // within buf, past buf once, past the file buffer
		path := filepath.Join(t.TempDir(), "out.jsonl")
		w, err := Create(path, JSONL)
		if err != nil {
			t.Fatal(err)
		}
		must(t, w.Begin(1), w.Write([]int64{1, 2}), w.End())
		must(t, w.Begin(2), w.Write(big[:n]), w.Abort())
		must(t, w.Begin(3), w.Write([]int64{3}), w.End(), w.Close())
		got, _ := os.ReadFile(path)
		if want := `{"batch_id":1,"data":[1,2]}` + "\n" + `{"batch_id":3,"data":[3]}` + "\n"; string(got) != want {
			t.Fatalf("abort of %d values with nothing flushed: file is %q..., want %q", n, got[:min(len(got), 200)], want)
		}
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, Text, true)
	must(t, w.Begin(1), w.Write([]int64{1}), w.Abort(), w.Begin(2), w.Write([]int64{2}), w.End())
	if got := buf.String(); !strings.HasSuffix(got, "\nbatch 2: 2\n") || !strings.Contains(got, "abandoned") {
		t.Fatalf("console after an abort: %q", got)
	}
}

func must(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Push hands what a Writer buffers to its io.Writer, and only that: a file
// reader sees whole batches without a Flush (and its fsync).
func TestPushWritesWhatIsBuffered(t *testing.T) {
	var dst bytes.Buffer
	w := NewWriter(&dst, JSONL, false)
	w.Begin(1)
	w.Write([]int64{1, 2})
	w.End()
	if dst.Len() != 0 {
		t.Fatalf("a line reached the destination before Push: %q", dst.String())
	}
	if err := w.Push(); err != nil {
		t.Fatal(err)
	}
	if got := dst.String(); got != "{\"batch_id\":1,\"data\":[1,2]}\n" {
		t.Fatalf("after Push the destination holds %q", got)
	}
	var m Multi = Multi{w}
	w.Begin(2)
	w.End()
	if err := m.Push(); err != nil || !bytes.HasSuffix(dst.Bytes(), []byte("\"batch_id\":2,\"data\":[]}\n")) {
		t.Fatalf("Multi.Push: %v, destination %q", err, dst.String())
	}
}
