package consumer

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/merge"
	"github.com/segmerge/segmerge/sink"
)

// Streaming a batch
//
// A batch too large to hold whole is released by the assembler as soon as
// every segment has its first chunk (see package assemble, StreamAbove). The
// core then begins it in the sinks and merges it poll by poll: each poll's
// chunks are taken as the merge needs them, what is merged is written at
// once (the file's line grows, the output topic gets chunk records), and the
// merge stops where a segment's next chunk has not arrived (merge.ErrWait).
// Nothing after the batch is released until it ends. Partitions that run
// ahead are paused meanwhile (see pauses).
//
// Offsets: the batch's records stay below the commit floor until it ends.
// In transactional mode the batch is written in a transaction of its own:
// the transaction holding earlier batches is committed before it begins,
// and none is committed while it streams (a commit then would publish part
// of a batch). Its size in time is therefore bounded by the transaction
// timeout (--transaction-timeout).
//
// A chunk that never comes (the assembler finds the batch Broken) means
// part of a bad batch has been written. The core undoes it: the sinks
// discard the batch begun (the file is cut back to the line's start), the
// batch is remembered as refused, and the member rolls back to the last
// commit — aborting the transaction, or rewinding the fetch positions — so
// that the batch's records are read again and this time go to the
// dead-letter topic, every one unchanged, with the missing segments named.

// errRedo says the member must roll back to its last commit and read again
// (a streaming batch turned out broken).
var errRedo = errors.New("consumer: redo from the last commit")

// streamSource is a merge.Source over one segment of the streaming batch.
type streamSource struct {
	c *core
	s int64
}

func (s *streamSource) Next() ([]int64, error) {
	d, st := s.c.asm.Take(s.c.stream, s.s)
	switch st {
	case assemble.Taken:
		return d, nil
	case assemble.NotYet:
		return nil, merge.ErrWait
	}
	return nil, io.EOF
}

// startStream begins streaming batch b into the sinks.
func (c *core) startStream(b *assemble.Batch) error {
	c.stream = b
	c.streamSrcs = c.streamSrcs[:0]
	c.streamRefs = slices.Grow(c.streamRefs[:0], int(b.Segments))[:b.Segments]
	for s := range b.Segments {
		c.streamRefs[s] = streamSource{c: c, s: s}
		c.streamSrcs = append(c.streamSrcs, &c.streamRefs[s])
	}
	c.scratch.merger.Reset(c.streamSrcs...)
	c.streamInts = 0
	c.cfg.Log.Info("merging a large batch as it arrives", "batch", b.ID, "segments", b.Segments)
	if err := c.cfg.Sink.Begin(b.ID); err != nil {
		return fmt.Errorf("write batch %d: %w", b.ID, err)
	}
	return nil
}

// pump merges the streaming batch as far as its chunks allow and writes
// what it merged. It returns done once the batch is written; errRedo if it
// turned out broken.
func (c *core) pump() (done bool, err error) {
	b, m := c.stream, &c.scratch.merger
	if c.vals == nil {
		c.vals = make([]int64, 4096)
	}
	for {
		k, err := m.Read(c.vals)
		if k > 0 {
			c.streamInts += int64(k)
			if err := c.cfg.Sink.Write(c.vals[:k]); err != nil {
				return false, fmt.Errorf("write batch %d: %w", b.ID, err)
			}
			continue
		}
		switch {
		case err == io.EOF:
			if err := c.cfg.Sink.End(); err != nil {
				return false, fmt.Errorf("write batch %d: %w", b.ID, err)
			}
			c.count(b.ID, c.streamInts)
			c.stats.Streamed++
			c.asm.Merged(b)
			c.written = append(c.written, b)
			c.stream = nil
			return true, nil
		case errors.Is(err, merge.ErrWait):
			if !c.asm.Broken(b) {
				return false, nil
			}
			return false, c.undoStream()
		default:
			return false, fmt.Errorf("merge batch %d: %w", b.ID, err)
		}
	}
}

// undoStream discards the streaming batch from the sinks, refuses it from
// now on, and asks for a redo (see the top of this file).
func (c *core) undoStream() error {
	b := c.stream
	if err := c.abortSinks(); err != nil {
		return err
	}
	why := c.incomplete(b) + "; found while merging it as it arrived"
	c.cfg.Log.Warn("incomplete batch found while streaming it; undoing what was written and reading it again to dead-letter it", "batch", b.ID, "missing", b.Missing)
	c.refused[b.ID] = why
	c.stream = nil
	return errRedo
}

// abortSinks discards a batch begun and not ended in every sink that can.
func (c *core) abortSinks() error {
	if a, ok := c.cfg.Sink.(sink.Aborter); ok {
		if err := a.Abort(); err != nil {
			return fmt.Errorf("undo a partly written batch: %w", err)
		}
	}
	return nil
}

// endStream, at a stop, discards a batch still streaming: it is not
// written, its offsets were never committed, and the next run reads it
// again. It reports whether there was one.
func (c *core) endStream() (bool, error) {
	if c.stream == nil {
		return false, nil
	}
	c.cfg.Log.Warn("stopping in the middle of a large batch; it is not written and the next run merges it again", "batch", c.stream.ID)
	c.stream = nil
	return true, c.abortSinks()
}

// pauses returns which of the owned partitions to pause and which to resume,
// given those paused now: short of memory, only the partitions the lowest
// batch waits on are fetched. It runs under mu.
func (c *core) pauses(owned map[int32]bool, paused map[int32]bool) (pause, resume []int32) {
	lim := c.lim
	held := c.asm.PendingBytes() // batches merging are bounded by the pipeline
	if held < lim.held*3/4 {
		for p := range paused {
			resume = append(resume, p)
		}
		return nil, resume
	}
	wanted := c.asm.Wanted(c.wanted[:0], c.stream)
	c.wanted = wanted
	for p := range owned {
		switch want := slices.Contains(wanted, p); {
		case want && paused[p]:
			resume = append(resume, p)
		case !want && !paused[p] && held >= lim.held:
			pause = append(pause, p)
		}
	}
	return pause, resume
}

// checkSize stops the consumer when a record is too large for the memory
// budget: a streaming batch holds one chunk of every segment at once.
func (c *core) checkSize(r *kgo.Record, rec *assemble.Record) error {
	segs := rec.Segments
	if segs <= 0 {
		segs = c.cfg.Segments
	}
	if segs > assemble.MaxSegments {
		return nil // a bad record, which the assembler refuses
	}
	if need := int64(rec.Size) * segs; need > int64(c.lim.held) {
		return fmt.Errorf("--memory %s is too small for this topic: record %s/%d@%d takes %s held, and a batch of %d segments needs one such chunk of each segment held at once (%s, over the %s share for held records, see consumer/memory.go); give --memory at least %s or write smaller chunks (produce --chunk-size)",
			FormatBytes(c.cfg.Memory), r.Topic, r.Partition, r.Offset, FormatBytes(int64(rec.Size)), segs, FormatBytes(need), FormatBytes(int64(c.lim.held)), FormatBytes(need*8*5/4+Reserve))
	}
	return nil
}
