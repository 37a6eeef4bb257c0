package producer

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/segmerge/segmerge/wire"
)

// The input log.
//
// # What it holds
//
// Config.InputLog receives whole batches. Once the broker has acknowledged
// every record of a batch, the batch's records, one JSON value a line, go
// to the log's writer, which writes them at once, with the other batches
// acknowledged meanwhile. So the log holds whole lines of whole batches and
// nothing of a batch in flight, and every batch acknowledged but those of
// the last moment (between the acknowledgment and the write). A process
// killed at any point leaves just that, but for a torn last line (a write
// cut short: OpenInputLog cuts it) and, before it, the lines written so
// far of a batch over logSplit, which is written in parts. The window is
// inherent, whatever the order of the steps: a process can always die
// between the broker's acknowledgment and the log's write. So after a
// crash the topic may hold a batch or two the log lacks, never the
// reverse.
//
// Batches are logged in the order they are acknowledged whole, not always
// ascending; a batch's records in the order they were acknowledged. A
// batch that fails to be delivered is never logged.
//
// # Cost
//
// One write a pass of the writer, which takes every batch acknowledged
// since its last pass: a write a batch when batches come slowly, one per
// 64 KiB (logWrite) when they come fast. No write waits for an fsync:
// what is written survives the process, which is what a producer killed
// or stopped needs; only a crash of the machine can lose the last writes,
// as it can tear the last line, and the window above already allows for
// a log that lacks the last batches of the topic. Run fsyncs the log once
// at its end, if the Writer is a regular *os.File, so that a run that ends
// leaves it durable. A batch's records are held until the batch is
// acknowledged whole and written: those in flight the client holds
// anyway; the log adds the acknowledged records of the batches not yet
// whole, about one batch, and of those not yet written.

// batchLog gathers the acknowledged records of one batch for the input
// log. Its fields are guarded by run.mu.
type batchLog struct {
	recs  [][]byte // acknowledged values
	total int      // records the batch has; 0 until all are produced
}

// logAcked takes the acknowledged record value v of batch b, and hands b
// to the log if it is now whole. p.mu is held.
func (p *run) logAcked(b *batchLog, v []byte) {
	b.recs = append(b.recs, v)
	if len(b.recs) == b.total {
		p.log.add(b.recs)
	}
}

// logProduced records that batch b has n records, all handed to the
// client, and hands b to the log if they are all acknowledged already.
func (p *run) logProduced(b *batchLog, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b.total = n
	if len(b.recs) == n {
		p.log.add(b.recs)
	}
}

// inputLog writes whole batches to the input log on a goroutine of its
// own, so that the client's promises, which hand it the batches, never
// wait on a write. Each pass takes every batch handed to it since the last
// pass and writes them out before the next: in one write while they come
// to less than logWrite, else in writes of at least logWrite that each end
// with a batch. A write ends inside a batch only when that batch alone
// passes logSplit, and then at a line's end.
type inputLog struct {
	w    io.Writer
	fail func(error) // fails the run with the log's write error
	buf  []byte      // what the pass has still to write

	mu     sync.Mutex
	queue  [][][]byte    // whole batches not yet written
	wake   chan struct{} // a batch is queued (capacity 1), or closed
	closed bool
	err    error // the first write error: the log takes nothing more

	done chan struct{} // closed when the goroutine has ended
}

const (
	logWrite = 64 << 10 // a pass writes at least this much a write, but for its last
	logSplit = 1 << 20  // a batch longer than this is written in parts
)

// startLog starts the input log writing to w; fail receives its write
// error, if any.
func startLog(w io.Writer, fail func(error)) *inputLog {
	l := &inputLog{w: w, fail: fail, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

// add queues a whole batch's records to be written.
func (l *inputLog) add(recs [][]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.err != nil {
		return
	}
	l.queue = append(l.queue, recs)
	select {
	case l.wake <- struct{}{}:
	default: // already woken
	}
}

func (l *inputLog) run() {
	defer close(l.done)
	var batches [][][]byte
	for range l.wake {
		l.mu.Lock()
		batches, l.queue = l.queue, batches[:0]
		l.mu.Unlock()
		err := l.pass(batches)
		clear(batches)
		if err != nil {
			err = fmt.Errorf("write input log: %w", err)
			l.mu.Lock()
			l.err, l.queue = err, nil
			l.mu.Unlock()
			l.fail(err)
			for range l.wake { // drop what comes until close
			}
			return
		}
	}
}

// pass writes batches out.
func (l *inputLog) pass(batches [][][]byte) error {
	for _, recs := range batches {
		for _, v := range recs {
			if len(l.buf) >= logSplit {
				if err := l.write(); err != nil {
					return err
				}
			}
			l.buf = append(append(l.buf, v...), '\n')
		}
		if len(l.buf) >= logWrite {
			if err := l.write(); err != nil {
				return err
			}
		}
	}
	return l.write()
}

// write writes out buf, if it holds anything. A large buf is dropped
// afterwards rather than kept for the passes to come.
func (l *inputLog) write() error {
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.w.Write(l.buf)
	l.buf = l.buf[:0]
	if cap(l.buf) > 2*logSplit {
		l.buf = nil
	}
	return err
}

// close writes what is queued, stops the goroutine, and returns the first
// write error. Batches handed to add later are dropped.
func (l *inputLog) close() error {
	l.mu.Lock()
	if !l.closed {
		// Every batch queued has sent a wake the goroutine has yet to
		// take, or was queued before it took the last one: the range
		// over wake writes them all before it ends.
		l.closed = true
		close(l.wake)
	}
	l.mu.Unlock()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// OpenInputLog opens the input log at path to append to it, creating it
// if missing, and repairs a torn end: a regular file whose last line has
// no newline (a producer died writing it) has that line cut, so that the
// next record starts a line of its own, unless the line decodes as a
// record: then only its newline was lost, and it is added. It returns the
// file and the number of bytes cut. A file that is not regular (a pipe,
// /dev/stdout on a terminal) is opened to write, as it is.
func OpenInputLog(path string) (f *os.File, cut int64, err error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		return f, 0, err
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, err
	}
	if cut, err = repairTail(f); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("repair the end of %s: %w", path, err)
	}
	return f, cut, nil
}

// repairTail cuts or completes a last line of f that has no newline, and
// returns how many bytes it cut.
func repairTail(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	end, err := afterLastNewline(f, size)
	if err != nil || end == size {
		return 0, err
	}
	tail := make([]byte, size-end)
	if _, err := f.ReadAt(tail, end); err != nil {
		return 0, err
	}
	var dec wire.Decoder
	var s wire.Segment
	if dec.Decode(tail, &s) == nil {
		_, err := f.Write([]byte{'\n'}) // O_APPEND: at the end
		return 0, err
	}
	return size - end, f.Truncate(end)
}

// afterLastNewline returns the offset just past the last newline among the
// first size bytes of r, or 0 if there is none.
func afterLastNewline(r io.ReaderAt, size int64) (int64, error) {
	const step = 64 << 10
	buf := make([]byte, step)
	for off := size; off > 0; {
		n := min(step, off)
		off -= n
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1, nil
		}
	}
	return 0, nil
}

// syncLog fsyncs the input log w if it is a regular file, so that a run
// that ends leaves its log durable. Devices and pipes have nothing to sync.
func syncLog(w io.Writer) error {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	return f.Sync()
}
