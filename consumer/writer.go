package consumer

import (
	"fmt"
	"sync"

	"github.com/segmerge/segmerge/sink"
)

// The ordered writer
//
// In concurrent mode the batches a poll releases are merged on every core,
// and then written in order. Writing (formatting integers as text, the
// file's system calls, handing records to the producer) is as much work as
// merging, so it runs on a goroutine of its own: the loop hands it each
// merged batch, in order, and goes on with the next poll — decoding and
// merging while the last poll's batches are written. Whoever needs the sinks
// settled first drains it: sync before a flush and a commit, a streaming
// batch before it begins, a stop. A write error is kept and returned by the
// next drain, so nothing is committed past it.
//
// Memory: the batches queued are merged copies, bounded to max integers
// (queue blocks the loop beyond it).

type writeJob struct {
	id   int64
	vals []int64
}

type orderedWriter struct {
	sink sink.Sink
	max  int // integers queued at most

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []writeJob
	queued int // integers in queue and being written
	busy   bool
	err    error
	closed bool
	done   chan struct{}
}

func newOrderedWriter(s sink.Sink, maxInts int) *orderedWriter {
	w := &orderedWriter{sink: s, max: max(maxInts, 1), done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// write queues batch id for writing, blocking while the queue is full. It
// returns an earlier write's error, if any.
func (w *orderedWriter) write(id int64, vals []int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && w.queued > 0 && w.queued+len(vals) > w.max {
		w.cond.Wait()
	}
	if w.err != nil {
		return w.err
	}
	w.queue = append(w.queue, writeJob{id, vals})
	w.queued += len(vals)
	w.cond.Broadcast()
	return nil
}

// drain waits until every queued batch is written and returns the first
// write error.
func (w *orderedWriter) drain() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && (len(w.queue) > 0 || w.busy) {
		w.cond.Wait()
	}
	return w.err
}

// close drains and stops the goroutine.
func (w *orderedWriter) close() error {
	err := w.drain()
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.done
	return err
}

func (w *orderedWriter) run() {
	defer close(w.done)
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		if len(w.queue) == 0 {
			return // closed
		}
		j := w.queue[0]
		w.queue[0] = writeJob{}
		w.queue = w.queue[1:]
		w.busy = true
		w.mu.Unlock()
		err := w.put(j)
		w.mu.Lock()
		w.busy = false
		w.queued -= len(j.vals)
		if err != nil && w.err == nil {
			w.err = err
			w.queue = nil
		}
		w.cond.Broadcast()
	}
}

func (w *orderedWriter) put(j writeJob) error {
	err := w.sink.Begin(j.id)
	if err == nil {
		err = w.sink.Write(j.vals)
	}
	if err == nil {
		err = w.sink.End()
	}
	if err != nil {
		return fmt.Errorf("write batch %d: %w", j.id, err)
	}
	return nil
}
