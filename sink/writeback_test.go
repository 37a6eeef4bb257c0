package sink

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestWritebackRequests writes 3.5 MiB of lines through a file Writer and
// checks that writeback was asked for once a megabyte, that the file holds
// every line, and that a request on a real file (sync_file_range where
// there is one) does not disturb what Flush makes durable.
func TestWritebackRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	w, err := Create(path, JSONL)
	if err != nil {
		t.Fatal(err)
	}
	wb := w.back
	requests := 0
	wb.start = func(f *os.File) { requests++; startWriteback(f) }
	vals := make([]int64, 1000)
	for i := range vals {
		vals[i] = int64(1e9 + i)
	}
	var want bytes.Buffer
	const batches = 335 // 335 lines of 11,000 bytes and their heads: just over 3.5 MiB
	for id := range int64(batches) {
		writeBatch(t, w, id, vals)
		want.Write(JSONL.AppendEnd(JSONL.AppendValues(JSONL.AppendStart(nil, id), vals, true)))
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("file holds %d bytes, want %d, or they differ", len(got), want.Len())
	}
	if n := len(got) / writebackBytes; requests != n {
		t.Errorf("writeback asked for %d times over %d bytes, want %d (one a MiB)", requests, len(got), n)
	}
}

// A batch cut back by Abort does not take later writes off the writeback
// path: Abort drops the buffer and truncates the file, and what follows
// still goes through writeback.
func TestWritebackAfterAbort(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "out.jsonl"), JSONL)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	requests := 0
	w.back.start = func(f *os.File) { requests++ }
	vals := make([]int64, 20000)
	for i := range vals {
		vals[i] = int64(1e9 + i)
	}
	if err := w.Begin(0); err != nil { // 220 KB: past the buffer, into the file
		t.Fatal(err)
	}
	if err := w.Write(vals); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	before := requests
	for id := range int64(20) { // 4.4 MB more
		writeBatch(t, w, id, vals)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if requests-before < 3 {
		t.Fatalf("%d writeback requests over 4.4 MB written after an Abort, want 4 or so", requests-before)
	}
}

// writeBatch writes batch id of vals to w whole.
func writeBatch(t *testing.T, w *Writer, id int64, vals []int64) {
	t.Helper()
	if err := w.Begin(id); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(vals); err != nil {
		t.Fatal(err)
	}
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
}
