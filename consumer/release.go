package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/sink"
)

// errRedo says the member must roll back to its last commit and read again
// (a streaming batch turned out broken).
var errRedo = errors.New("consumer: redo from the last commit")

// release writes every batch the assembler releases, until Count is
// reached. Complete batches are merged into the sink; dropped ones go to
// the dead letters. In concurrent mode held batches go to the pipeline, to
// be merged on every core and written in order.
func (e *engine) release(ctx context.Context) error {
	e.reap()
	for b := e.asm().Evicted(); b != nil; b = e.asm().Evicted() {
		if err := e.drop(ctx, b); err != nil {
			return err
		}
	}
	if e.streamB != nil {
		if done, err := e.advance(); !done || err != nil {
			return err
		}
	}
	asm := e.asm()
	var ready []*assemble.Batch
	for !e.countReached(int64(len(ready))) {
		b := asm.Next()
		if b == nil {
			break
		}
		switch {
		case b.Streaming:
			// Write what is ready first: the stream comes after it.
			if err := e.emitAll(ready); err != nil {
				return err
			}
			ready = ready[:0]
			e.streamB, e.begun = b, false
			if done, err := e.advance(); !done || err != nil {
				return err
			}
		case b.Cut:
			// Begun before our start position: not ours, not bad.
			e.stats.Cut++
			e.cfg.Log.Info("skipped a batch begun before this consumer's start position", "batch", b.ID, "missing", listed(b.Missing, 20))
			asm.Merged(b)
			e.led.Skipped(b)
		case !b.Complete():
			if err := e.drop(ctx, b); err != nil {
				return err
			}
		case e.pipe == nil:
			if err := e.write(b); err != nil {
				return err
			}
		default:
			ready = append(ready, b)
		}
	}
	if e.pipe != nil {
		return e.emitAll(ready) // its writer pushes (see emit.Pipeline)
	}
	return e.push()
}

// push hands what the sinks buffer to their destinations (sink.Pusher):
// the batches a poll wrote are seen by a reader of the file as the poll
// ends, not at the next flush. It costs a write when anything was written.
func (e *engine) push() error {
	if p, ok := e.cfg.Sink.(sink.Pusher); ok {
		if err := p.Push(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	return nil
}

// emitAll writes the batches in ready, in order: handed to the pipeline in
// concurrent mode, else merged and written here.
func (e *engine) emitAll(ready []*assemble.Batch) error {
	if len(ready) == 0 {
		return nil
	}
	if e.pipe == nil {
		for _, b := range ready {
			if err := e.write(b); err != nil {
				return err
			}
		}
		return nil
	}
	for _, b := range ready {
		e.count(b, int64(b.Len()))
	}
	asm := e.asm()
	return e.pipe.Submit(ready, asm.Merged)
}

// reap tells the assembler which batches the pipeline has merged: their
// records' memory may go.
func (e *engine) reap() {
	if e.pipe == nil {
		return
	}
	asm := e.asm()
	for _, b := range e.pipe.Reap(nil) {
		asm.Merged(b)
	}
}

// settle waits until the pipeline, if any, has written every batch handed
// to it.
func (e *engine) settle() error {
	if e.pipe == nil {
		return nil
	}
	err := e.pipe.Drain()
	e.reap()
	return err
}

// write merges held batch b into the sink.
func (e *engine) write(b *assemble.Batch) error {
	n, err := e.scratch.Write(e.cfg.Sink, b)
	if err != nil {
		return err
	}
	e.written(b)
	e.count(b, n)
	e.asm().Merged(b)
	return nil
}

// count records that b, of ints integers, is written.
func (e *engine) count(b *assemble.Batch, ints int64) {
	e.led.Wrote(b)
	if e.stats.Batches == 0 && e.stats.First == 0 {
		e.stats.First = time.Since(e.start)
	}
	e.stats.Batches++
	e.stats.Integers += ints
}

// written observes, for a batch just written, the time since its last
// segment's record was produced (its timestamp). It may run on the
// pipeline's writer.
func (e *engine) written(b *assemble.Batch) {
	if t := b.Time(); t > 0 {
		e.cfg.Metrics.Latency(time.Since(time.UnixMilli(t)))
	}
}

// drop sends the records of a batch that became final incomplete to the
// dead letters, naming the missing segments.
func (e *engine) drop(ctx context.Context, b *assemble.Batch) error {
	e.stats.Dropped++
	reason, msg := assemble.ReasonIncomplete, e.incomplete(b)
	if b.Evicted {
		reason, msg = assemble.ReasonFarAhead, fmt.Sprintf("batch %d was taken for an outlier: its partition jumped to it past the batch gap allowed, and then went on below it", b.ID)
	}
	e.cfg.Log.Warn("batch dead-lettered", "batch", b.ID, "reason", reason, "missing", listed(b.Missing, 20))
	for _, r := range b.Records() {
		e.dead(r.Ref.(*kgo.Record), reason, msg)
	}
	e.asm().Merged(b)
	e.led.Dropped(b)
	return nil
}

// listed writes ids as [1 2 3], the first max of them, then "... and N
// more": a log line or a header stays short whatever a batch claims.
func listed(ids []int64, max int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i == max {
			fmt.Fprintf(&b, " ... and %d more", len(ids)-max)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// incomplete says why batch b, released without all its segments, goes to
// the dead letters: the message every one of its records carries.
func (e *engine) incomplete(b *assemble.Batch) string {
	msg := fmt.Sprintf("batch %d is final without segments %s of %d", b.ID, listed(b.Missing, 20), b.Segments)
	if b.TimedOut {
		msg += fmt.Sprintf(" (incomplete after the batch timeout %v)", e.cfg.BatchTimeout)
	}
	return msg
}

// advance begins the streaming batch if it may begin, and merges it as far
// as its chunks allow; done says it is written. With an output topic it
// begins only in a transaction of its own (see the package doc): while
// batches written since the last commit are not committed, it waits for
// the member to commit them.
func (e *engine) advance() (done bool, err error) {
	b := e.streamB
	if !e.begun {
		if e.cfg.transactional() && e.led.Dirty() {
			return false, nil
		}
		if err := e.settle(); err != nil { // the stream comes after them
			return false, err
		}
		e.cfg.Log.Info("merging a large batch as it arrives", "batch", b.ID, "segments", b.Segments)
		if err := e.stream.Begin(e.cfg.Sink, b, e.asm()); err != nil {
			return false, err
		}
		e.begun = true
	}
	done, err = e.stream.Pump()
	switch {
	case err != nil:
		return false, err
	case done:
		e.written(b)
		e.count(b, e.stream.Ints())
		e.stats.Streamed++
		e.asm().Merged(b)
		e.streamB = nil
		return true, nil
	case e.asm().Broken(b):
		return false, e.undoStream()
	}
	return false, nil
}

// undoStream discards the streaming batch from the sinks, refuses it from
// now on, and asks for a redo (see the package doc).
func (e *engine) undoStream() error {
	b := e.streamB
	if err := e.stream.Abort(); err != nil {
		return err
	}
	why := e.incomplete(b) + "; found while merging it as it arrived"
	e.cfg.Log.Warn("incomplete batch found while streaming it; undoing what was written and reading it again to dead-letter it", "batch", b.ID, "missing", listed(b.Missing, 20))
	e.led.Refuse(b.ID, why)
	e.streamB = nil
	return errRedo
}

// endStream, at a stop, discards a batch still streaming: it is not
// written, its offsets were never committed, and the next run reads it
// again. It reports whether there was one.
func (e *engine) endStream() (bool, error) {
	if e.streamB == nil {
		return false, nil
	}
	e.cfg.Log.Warn("stopping in the middle of a large batch; it is not written and the next run merges it again", "batch", e.streamB.ID)
	e.streamB = nil
	if !e.begun {
		return true, nil
	}
	return true, e.stream.Abort()
}

// sync makes everything written so far durable (sinks flushed, output and
// dead-letter records acknowledged), then tells the ledger, so that their
// offsets may be committed.
func (e *engine) sync(ctx context.Context) error {
	if err := e.settle(); err != nil {
		return err
	}
	if err := e.cfg.Sink.Flush(ctx); err != nil {
		return fmt.Errorf("flush output: %w", err)
	}
	if e.prod != nil {
		if err := e.prod.Flush(ctx); err != nil {
			return fmt.Errorf("flush output topic: %w", err)
		}
	}
	e.led.Durable()
	e.synced = time.Now()
	return nil
}
