// Package sink writes merged batches out: as JSON Lines, as human text, to
// any io.Writer (a file, stdout). A batch arrives as a stream of values
// between Begin and End, so a batch larger than memory is one line written as
// the merge runs, never held whole.
//
// The package knows nothing of Kafka; the output topic is a Sink of the
// consumer package.
package sink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/segmerge/segmerge/wire"
)

// Sink receives merged batches, in the order they are to appear.
type Sink interface {
	// Begin starts batch id.
	Begin(id int64) error
	// Write appends ascending values to the current batch.
	Write(vals []int64) error
	// End finishes the current batch.
	End() error
	// Flush hands everything written so far to its destination, so that
	// input offsets of the batches written may be committed.
	Flush(ctx context.Context) error
	// Close flushes and releases the sink.
	Close() error
}

// Format is how a Writer renders a batch.
type Format string

// Formats.
const (
	JSONL Format = "jsonl" // {"batch_id":7,"data":[1,1,2,9]} per line
	Text  Format = "text"  // batch 7: 1 1 2 9
)

// AppendStart appends the head of batch id's line, up to its first value.
// AppendStart, AppendValues and AppendEnd render a line piece by piece, as
// Writer does, for whoever renders lines ahead (see LineSink); they
// allocate only when dst must grow.
func (f Format) AppendStart(dst []byte, id int64) []byte {
	if f == Text {
		return wire.AppendTextStart(dst, id)
	}
	return wire.AppendOutputStart(dst, id)
}

// AppendValues appends ascending values to a line begun by AppendStart;
// first says that no value precedes them on the line.
func (f Format) AppendValues(dst []byte, vals []int64, first bool) []byte {
	if f == Text {
		return wire.AppendTextInts(dst, vals)
	}
	return wire.AppendInts(dst, vals, first)
}

// AppendCounted appends the ascending values counts describes (lo+d,
// counts[d] times, for each d: see merge.Packed.Counts) to a line begun by
// AppendStart, as AppendValues would append them one by one.
func (f Format) AppendCounted(dst []byte, lo int64, counts []uint32, first bool) []byte {
	if f == Text {
		return wire.AppendTextCounted(dst, lo, counts)
	}
	return wire.AppendCounted(dst, lo, counts, first)
}

// AppendEnd appends the tail of a line, newline included.
func (f Format) AppendEnd(dst []byte) []byte {
	if f != Text {
		dst = wire.AppendOutputEnd(dst)
	}
	return append(dst, '\n')
}

// LineSink is a Sink whose lines may be rendered ahead, elsewhere: a
// consumer merging batches on several cores renders each batch's line with
// LineFormat's Append methods on the core that merged it, and hands the
// line to WriteLine in batch order.
type LineSink interface {
	Sink
	// LineFormat is how the sink renders a batch.
	LineFormat() Format
	// WriteLine writes batch id, rendered whole (newline included), as
	// Begin, Write and End would have written it.
	WriteLine(id int64, line []byte) error
}

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JSONL, Text:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: must be jsonl or text", s)
}

// Writer renders batches onto an io.Writer. It buffers up to 64 KiB, so a
// batch of any size costs a fixed footprint.
type Writer struct {
	w        *bufio.Writer
	c        io.Closer // closed by Close, if set
	sync     func() error
	format   Format
	buf      []byte
	first    bool
	perBatch bool // flush at every End (consoles: show batches as they come)
	err      error

	file    *os.File   // set for a file Writer: Abort cuts it back
	back    *writeback // a file Writer's: what w writes to
	written int64      // bytes handed to w since the file's start (file Writers)
	mark    int64      // written at the current batch's Begin

	skipThrough int64 // batches with ids up to this are already written (see Open)
	skipping    bool  // the current batch is one of them
	skipped     int64
	all         bool // WriteAll: never skip
}

// NewWriter renders batches in format onto w. If flushEachBatch, every
// batch is pushed to w as it ends (for a console); otherwise only when the
// buffer fills or at Flush.
func NewWriter(w io.Writer, format Format, flushEachBatch bool) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), format: format, perBatch: flushEachBatch, buf: make([]byte, 0, 32<<10), skipThrough: -1}
}

// Create creates (or truncates) the file at path and renders batches into
// it; Flush also fsyncs it. Writeback to disk begins every megabyte
// written (see writeback), so that fsync has little left to wait for.
func Create(path string, format Format) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	back := newWriteback(f)
	w := NewWriter(back, format, false)
	w.c, w.file, w.back = f, f, back
	w.sync = f.Sync
	return w, nil
}

// Skipper is a Sink that can be told it already holds every batch up to an
// id, to skip them when they come again (a consumer redoing an aborted
// transaction writes them again; a file keeps what it wrote).
type Skipper interface {
	SkipThrough(id int64)
}

// SkipThrough implements Skipper.
func (w *Writer) SkipThrough(id int64) {
	if !w.all {
		w.skipThrough = max(w.skipThrough, id)
	}
}

// WriteAll makes w write every batch it is given: it forgets the last batch
// id found by Open and ignores SkipThrough. Skipping by id is right only
// while batch ids ascend (rule 2 of Open's protocol); a member of a group
// spread over processes can be given a partition whose batches lie below
// the ones it wrote, and skipping them would lose them. Its file is then at
// least once: a batch read again after a crash or a rebalance is written
// again.
func (w *Writer) WriteAll() { w.skipThrough, w.all = -1, true }

// SkipThrough implements Skipper for the sinks in m that do.
func (m Multi) SkipThrough(id int64) {
	for _, s := range m {
		if sk, ok := s.(Skipper); ok {
			sk.SkipThrough(id)
		}
	}
}

// Skipped is the number of batches dropped because the file already held
// them (see Open).
func (w *Writer) Skipped() int64 { return w.skipped }

// Begin implements Sink.
func (w *Writer) Begin(id int64) error {
	w.skipping = id <= w.skipThrough
	if w.skipping {
		w.skipped++
		return w.err
	}
	w.buf = w.format.AppendStart(w.buf[:0], id)
	w.first = true
	w.mark = w.written
	return w.err
}

// Write implements Sink.
func (w *Writer) Write(vals []int64) error {
	const step = 2048 // keep buf small whatever len(vals)
	for len(vals) > 0 && w.err == nil && !w.skipping {
		n := min(step, len(vals))
		w.buf = w.format.AppendValues(w.buf, vals[:n], w.first)
		w.first = false
		vals = vals[n:]
		if len(w.buf) >= 16<<10 {
			w.spill()
		}
	}
	return w.err
}

// End implements Sink.
func (w *Writer) End() error {
	if w.skipping {
		w.skipping = false
		return w.err
	}
	w.buf = w.format.AppendEnd(w.buf)
	w.put()
	if w.perBatch && w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// LineFormat implements LineSink.
func (w *Writer) LineFormat() Format { return w.format }

// WriteLine implements LineSink: line is batch id's whole line, as
// LineFormat renders it. A batch the file already holds is skipped, as
// Begin skips it.
func (w *Writer) WriteLine(id int64, line []byte) error {
	if id <= w.skipThrough {
		w.skipped++
		return w.err
	}
	w.mark = w.written
	if w.err == nil {
		var n int
		n, w.err = w.w.Write(line)
		w.written += int64(n)
	}
	if w.perBatch && w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// spill moves what is rendered of the current batch into the buffered
// writer before its end. On a file, the first spill of a batch flushes what
// came before it: Abort drops everything buffered, which must then hold
// nothing of earlier batches.
func (w *Writer) spill() {
	if w.file != nil && w.written == w.mark && w.err == nil {
		w.err = w.w.Flush()
	}
	w.put()
}

func (w *Writer) put() {
	if w.err == nil {
		var n int
		n, w.err = w.w.Write(w.buf)
		w.written += int64(n)
	}
	w.buf = w.buf[:0]
}

// Aborter is a Sink that can discard a batch begun and not ended.
type Aborter interface {
	// Abort discards what was written of the current batch since Begin.
	Abort() error
}

// Abort discards the current batch. A file Writer cuts the file back to
// the batch's first byte, so the batch leaves no trace even if part of it
// was flushed; any other Writer ends the partial line, to keep the lines
// after it whole.
func (w *Writer) Abort() error {
	if w.skipping {
		w.skipping = false
		return w.err
	}
	w.buf = w.buf[:0]
	if w.err != nil {
		return w.err
	}
	if w.file == nil {
		w.buf = append(w.buf, " (batch abandoned)\n"...)
		w.put()
		return w.err
	}
	if w.written == w.mark {
		return nil // nothing of the batch left buf
	}
	w.w.Reset(w.back) // drop what is buffered (the batch's: see spill), then cut what reached the file
	if w.err = w.file.Truncate(w.mark); w.err == nil {
		_, w.err = w.file.Seek(w.mark, io.SeekStart)
	}
	w.written = w.mark
	return w.err
}

// Flush implements Sink.
func (w *Writer) Flush(context.Context) error {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	if w.err == nil && w.sync != nil {
		w.err = w.sync()
	}
	return w.err
}

// Close implements Sink.
func (w *Writer) Close() error {
	err := w.Flush(context.Background())
	if w.c != nil {
		err = errors.Join(err, w.c.Close())
		w.c = nil
	}
	return err
}

// Pusher is a Sink that can hand what it buffers to its destination at
// once without making it durable, so that a reader of the file (tail -f, a
// follower) sees the batches written so far while the writer waits for
// more. Flush does this and more: it also fsyncs.
type Pusher interface {
	Push() error
}

// Push implements Pusher: one write of what is buffered, if anything is.
func (w *Writer) Push() error {
	if w.err == nil && w.w.Buffered() > 0 {
		w.err = w.w.Flush()
	}
	return w.err
}

// Push implements Pusher for the sinks in m that do.
func (m Multi) Push() error {
	return m.each(func(s Sink) error {
		if p, ok := s.(Pusher); ok {
			return p.Push()
		}
		return nil
	})
}

// Multi is a Sink that writes to every sink in it, in order.
type Multi []Sink

// Begin implements Sink.
func (m Multi) Begin(id int64) error { return m.each(func(s Sink) error { return s.Begin(id) }) }

// Write implements Sink.
func (m Multi) Write(v []int64) error { return m.each(func(s Sink) error { return s.Write(v) }) }

// End implements Sink.
func (m Multi) End() error { return m.each(Sink.End) }

// Abort aborts the current batch in every sink that can (see Aborter).
func (m Multi) Abort() error {
	return m.each(func(s Sink) error {
		if a, ok := s.(Aborter); ok {
			return a.Abort()
		}
		return nil
	})
}

// Flush implements Sink.
func (m Multi) Flush(ctx context.Context) error {
	return m.each(func(s Sink) error { return s.Flush(ctx) })
}

// Close implements Sink: it closes every sink and returns the errors joined.
func (m Multi) Close() error {
	var errs []error
	for _, s := range m {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

func (m Multi) each(fn func(Sink) error) error {
	for _, s := range m {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}
