package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Resumable output files.
//
// # The protocol
//
// An output file is its own checkpoint; nothing beside it must be kept in
// step. The consumer keeps two rules:
//
//  1. Before it commits input offsets, it flushes and fsyncs the file (Flush
//     does both). So every batch whose offsets are committed is on disk.
//  2. Batches are written in ascending batch-id order.
//
// After a crash the file holds every committed batch, maybe some batches
// written after the last commit, and maybe a torn last line. Open cuts the
// torn line, reads the batch id B of the last whole line, and returns a
// Writer that appends and drops any batch with id <= B: the restarted
// consumer re-reads the batches after its committed offsets, and those it
// had already written are skipped instead of written twice. So each batch is
// in the file exactly once, whenever the process died.
//
// The one case rule 2 does not cover is a batch released late (see package
// assemble: possible only in the batch layout while a producer is writing);
// such a batch, re-read after a crash, would be taken for written.

// Open opens the file at path for batches in format. A missing file is
// created. An existing regular file is resumed as described above, unless
// overwrite is set, which truncates it. Any other existing file that can be
// written (a character device such as /dev/null, a named pipe) is only
// written: it holds nothing to resume, cannot be truncated or cut back (see
// Abort), and is not fsynced. It returns the Writer and the id of the last
// batch already in the file (-1 if none).
func Open(path string, format Format, overwrite bool) (*Writer, int64, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() && !st.IsDir() {
		return openStream(path, format)
	}
	flag := os.O_RDWR | os.O_CREATE
	if overwrite {
		flag |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, -1, err
	}
	last, size, err := lastBatch(f, format)
	if err == nil {
		err = f.Truncate(size)
	}
	if err == nil {
		_, err = f.Seek(size, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, -1, fmt.Errorf("resume %s: %w", path, err)
	}
	back := newWriteback(f)
	w := NewWriter(back, format, false)
	w.c, w.file, w.back, w.sync, w.skipThrough = f, f, back, f.Sync, last
	w.written = size
	return w, last, nil
}

// openStream opens path, a file that is not regular, write only: there is
// nothing to read back from a device or a pipe. A pipe's open waits for a
// reader, as a shell's redirection does.
func openStream(path string, format Format) (*Writer, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, -1, err
	}
	w := NewWriter(f, format, false)
	w.c = f
	return w, -1, nil
}

// lastBatch returns the batch id of the last whole line of f (-1 if none)
// and the size of f up to and including that line.
func lastBatch(f *os.File, format Format) (int64, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return -1, 0, err
	}
	end := st.Size()
	// Find the last newline: everything after it is a torn line.
	const step = 64 << 10
	buf := make([]byte, step)
	cut := int64(-1)
	for off := end; off > 0 && cut < 0; {
		n := min(step, off)
		off -= n
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return -1, 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			cut = off + int64(i) + 1
		}
	}
	if cut < 0 {
		return -1, 0, nil // empty, or one torn line: start over
	}
	// The last whole line starts after the newline before it; its id is in
	// its first bytes ({"batch_id":N, or batch N:).
	start := max(cut-1-64, 0)
	head := make([]byte, cut-1-start)
	if _, err := f.ReadAt(head, start); err != nil {
		return -1, 0, err
	}
	if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
		head = head[i+1:]
	} else if start > 0 {
		// A line longer than 64 bytes: read its start.
		lineStart, err := lineStart(f, cut-1)
		if err != nil {
			return -1, 0, err
		}
		head = make([]byte, min(64, cut-1-lineStart))
		if _, err := f.ReadAt(head, lineStart); err != nil {
			return -1, 0, err
		}
	}
	id, err := batchID(head, format)
	if err != nil {
		return -1, 0, fmt.Errorf("last line: %w", err)
	}
	return id, cut, nil
}

// lineStart returns the offset of the line that ends at offset end.
func lineStart(f *os.File, end int64) (int64, error) {
	const step = 64 << 10
	buf := make([]byte, step)
	for off := end; off > 0; {
		n := min(step, off)
		off -= n
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1, nil
		}
	}
	return 0, nil
}

// batchID reads the batch id at the start of an output line.
func batchID(line []byte, format Format) (int64, error) {
	prefix := []byte(`{"batch_id":`)
	if format == Text {
		prefix = []byte("batch ")
	}
	rest, ok := bytes.CutPrefix(line, prefix)
	if !ok {
		return -1, fmt.Errorf("%.40q is not a segmerge %s line", line, format)
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	id, err := strconv.ParseInt(string(rest[:n]), 10, 64)
	if err != nil {
		return -1, errors.New("no batch id at the start of the line")
	}
	return id, nil
}
