package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/merge"
	"github.com/segmerge/segmerge/sink"
	"github.com/segmerge/segmerge/wire"
)

// core is what every mode shares: the assembler, the merge, the sinks, the
// dead letters and the offsets. Its methods run under mu, so that group
// callbacks and (in scalable mode) several members can call them.
type core struct {
	mu      sync.Mutex
	cfg     *Config
	asm     assembler // see lanes.go
	dlq     *deadLetters
	prod    *producer
	endAt   kafka.Offsets // -e: end offsets read at start; nil without -e
	startAt kafka.Offsets // -e: start offsets read at start

	next    map[int32]int64 // next offset per assigned partition
	written []*assemble.Batch
	synced  time.Time
	stats   Stats

	// What an aborted transaction rolls back to (transactional mode).
	asmCfg      assemble.Config
	base        map[int32]assemble.Start // where each partition's last commit left it
	hwm         map[int32]int64          // high watermark last seen per partition
	lastWritten int64                    // highest batch id written
	epochStats  Stats                    // stats at the last commit

	unassignedSince, unassignedTold time.Time // see noteUnassigned

	// Memory and streaming (see memory.go and stream.go).
	lim        limits
	stream     *assemble.Batch  // the batch being merged as it arrives
	begun      bool             // stream has begun in the sinks
	dirty      bool             // batches written or dropped since the last commit
	refused    map[int64]string // batches found broken while streaming
	streamSrcs []merge.Source
	streamRefs []streamSource
	streamInts int64
	wanted     []int32

	// decode and merge scratch, reused batch after batch
	scratch scratch
	vals    []int64
	// One scratch per core for parallel decoding (concurrent mode: one
	// member, whose loop alone uses it), reused poll after poll.
	pool   []scratch
	pipe   *pipeline         // concurrent mode: merges and writes batches (pipeline.go)
	reaped []*assemble.Batch // scratch for reap
}

// Stats is what a consumer run did.
type Stats struct {
	Batches    int64 // batches written
	Integers   int64 // integers written
	Bad        int64 // records refused (sent to the dead-letter topic)
	Duplicates int64 // identical copies dropped
	Dropped    int64 // batches final without all segments (dead-lettered)
	Cut        int64 // batches begun before the start position (skipped)
	Late       int64 // batches written after a higher one
	Streamed   int64 // batches merged as they arrived (too large to hold whole)
	Pending    int   // batches left incomplete at exit (not committed)
	Elapsed    time.Duration
}

// assign adds partitions to be read from their starts.
func (c *core) assign(starts map[int32]assemble.Start) {
	for p, s := range starts {
		c.asm.Assign(p, s)
		c.next[p] = s.Next
		c.base[p] = s
	}
}

// committed records that offs are committed with everything written so far.
func (c *core) committed(offs map[int32]kgo.EpochOffset) {
	for p, o := range offs {
		b := c.base[p]
		b.Next, b.Fresh = o.Offset, false
		c.base[p] = b
	}
	c.epochStats = c.stats
	c.dirty = false
}

// rollback forgets everything since the last commit, after a transaction
// aborted: the client is back at the committed offsets, so the assembler
// starts over there, and sinks that keep what they wrote (a file) skip the
// batches they already hold when those come again.
func (c *core) rollback(owned map[int32]bool) {
	c.settle() // what was queued lands first; an error stays for the next drain
	c.asm = c.newAssembler()
	c.stream, c.begun, c.dirty = nil, false, false
	for p := range owned {
		s := c.base[p]
		s.CaughtUp = s.Next >= c.hwm[p]
		c.asm.Assign(p, s)
		c.next[p] = s.Next
	}
	clear(c.written)
	c.written = c.written[:0]
	c.stats = c.epochStats
	if sk, ok := c.cfg.Sink.(sink.Skipper); ok {
		sk.SkipThrough(c.lastWritten)
	}
}

// revoke drops partitions from the assembler (their pending records will be
// re-read by their next owner from the committed offset).
func (c *core) revoke(parts []int32) {
	for _, p := range parts {
		c.asm.Revoke(p)
		delete(c.next, p)
	}
}

// take adds the records of one fetched partition, decoding them with the
// core's decoder, and records the partition's position.
func (c *core) take(ctx context.Context, fp *kgo.FetchPartition) error {
	dec := decodeAll(&c.scratch.dec, fp.Records, c.limit(fp.Partition))
	return c.add(ctx, fp, dec)
}

// limit is the offset at which -e stops reading partition p.
func (c *core) limit(p int32) int64 {
	if c.endAt == nil {
		return -1
	}
	if end, ok := c.endAt[p]; ok {
		return end
	}
	return 0
}

// decoded is one record after decoding: the assembler's record, or why it
// was refused.
type decoded struct {
	r      *kgo.Record
	rec    *assemble.Record
	reason string
	err    error
}

// keepRaw sets what rec keeps of its raw record r, and what it costs held.
// A held record keeps r itself, to forward it unchanged if its batch is
// dropped, and to read its headers (lanes.go). A record of the batch
// streaming now keeps none: if that batch breaks, its records are read
// again (stream.go).
//
// r is not copied: its bytes share memory with the rest of its fetch (the
// record batch it was decompressed from, or the whole fetch response when
// uncompressed), which it keeps alive while held. That costs more than r's
// own bytes only at the edge of what is held: a partition's held records
// are the newest it fetched, so the fetches they pin are nearly all held
// records too, and what is pinned beyond them is at most about a fetch
// response per broker (M/64 of the budget each, see memory.go). Copying
// every record instead cost 10% of the CPU of a bulk run.
func (c *core) keepRaw(r *kgo.Record, rec *assemble.Record) {
	rec.Size = recordOverhead + 8*len(rec.Data)
	if c.stream != nil && rec.BatchID == c.stream.ID {
		return
	}
	rec.Ref = r
	rec.Size += len(r.Key) + len(r.Value)
}

// recordOverhead is what a held record costs beyond its bytes and data: the
// record structs (ours, and kgo's, which it keeps) and slice headers, as
// measured with heap profiles of many small records. (Measured when the raw
// record was copied; kgo's struct, ~200 bytes in its slab, now takes the
// copy's place. A seed run allocates ~730 bytes a record in all.)
const recordOverhead = 400

// decodeAll decodes records (stopping at offset limit unless it is -1).
// Small records' data and every assemble.Record are carved from slabs
// shared by the records of one call, not allocated one by one: a seed
// record of 15 integers cost two allocations, and the collector's work
// grew with them. A held record keeps its slabs alive, as it keeps its
// fetch (see keepRaw), and slabs are small (slabInts, slabRecords), so
// what one pins beyond the records held is small too.
func decodeAll(dec *wire.Decoder, rs []*kgo.Record, limit int64) []decoded {
	const slabInts, slabRecords = 4096, 128
	out := make([]decoded, 0, len(rs))
	var (
		seg  wire.Segment
		ints []int64
		recs []assemble.Record
	)
	for _, r := range rs {
		if limit >= 0 && r.Offset >= limit {
			break
		}
		if r.Attrs.IsControl() {
			// A transaction marker (a transactional input, such as
			// <topic>.by-batch): no data, but it takes an offset, which
			// the position must pass to reach the end.
			out = append(out, decoded{r: r})
			continue
		}
		// The data is decoded straight into memory the record keeps.
		n := wire.CountUpperBound(r.Value)
		var buf []int64
		small := n <= slabInts/8
		if small {
			if cap(ints)-len(ints) < n {
				ints = make([]int64, 0, slabInts)
			}
			buf = ints[len(ints) : len(ints) : len(ints)+n]
		} else {
			buf = make([]int64, 0, n)
		}
		if err := dec.DecodeInto(r.Value, &seg, buf); err != nil {
			reason := wire.ReasonNotJSON
			var we *wire.Error
			if errors.As(err, &we) {
				reason = we.Reason
			}
			out = append(out, decoded{r: r, reason: reason, err: err})
			continue
		}
		if small {
			ints = ints[:len(ints)+len(seg.Data)]
		}
		if len(recs) == cap(recs) {
			recs = make([]assemble.Record, 0, slabRecords)
		}
		recs = append(recs, assemble.Record{
			Partition: r.Partition, Offset: r.Offset,
			BatchID: seg.BatchID, SegmentID: seg.SegmentID, Segments: seg.Segments,
			Chunk: seg.Chunk, Last: seg.Last, Data: seg.Data,
		})
		out = append(out, decoded{r: r, rec: &recs[len(recs)-1]})
	}
	return out
}

// add hands decoded records of one fetched partition to the assembler, bad
// ones to the dead letters, and records the partition's position.
func (c *core) add(ctx context.Context, fp *kgo.FetchPartition, recs []decoded) error {
	p := fp.Partition
	if _, ok := c.next[p]; !ok {
		return nil // revoked since the fetch
	}
	for _, d := range recs {
		if d.rec != nil {
			c.keepRaw(d.r, d.rec)
			if err := c.checkSize(d.r, d.rec); err != nil {
				return err
			}
			v, err := c.asm.Add(d.rec)
			switch v {
			case assemble.Duplicate:
				c.stats.Duplicates++
			case assemble.Rejected:
				d.reason, d.err = assemble.ReasonConflict, err
				var rej *assemble.Reject
				if errors.As(err, &rej) {
					d.reason = rej.Reason
				}
			}
		}
		if d.err != nil {
			c.stats.Bad++
			c.cfg.Counters.Bad.Add(1)
			if err := c.dlq.send(ctx, d.r, d.reason, d.err.Error()); err != nil {
				return err
			}
		}
		c.next[p] = d.r.Offset + 1
	}
	next := c.next[p]
	c.hwm[p] = fp.HighWatermark
	caughtUp := next >= fp.HighWatermark
	if lim := c.limit(p); lim >= 0 && next >= lim {
		caughtUp = true
	}
	c.asm.Position(p, next, caughtUp)
	return nil
}

// release writes every batch the assembler releases, until -c is reached.
// Complete batches are merged into the sink; dropped ones go to the dead
// letters. With parallel set, the released batches go to the pipeline, to
// be merged on every core and written in order (pipeline.go).
func (c *core) release(ctx context.Context, parallel bool) error {
	c.reap()
	if c.stream != nil {
		if done, err := c.advance(); !done || err != nil {
			return err
		}
	}
	var ready []*assemble.Batch
	for !c.countReached(int64(len(ready))) {
		b := c.asm.Next()
		if b == nil {
			break
		}
		if b.Streaming {
			// Write what is ready first: the stream comes after it.
			if err := c.emitAll(ready); err != nil {
				return err
			}
			ready = ready[:0]
			c.stream, c.begun = b, false
			if done, err := c.advance(); !done || err != nil {
				return err
			}
			continue
		}
		if b.Cut {
			// Begun before our start position: not ours, not bad.
			c.stats.Cut++
			c.cfg.Log.Info("skipped a batch begun before this consumer's start position", "batch", b.ID, "missing", b.Missing)
			c.asm.Merged(b)
			c.written = append(c.written, b)
			continue
		}
		if !b.Complete() {
			if err := c.drop(ctx, b); err != nil {
				return err
			}
			continue
		}
		if !parallel {
			if err := c.write(b); err != nil {
				return err
			}
			continue
		}
		ready = append(ready, b)
	}
	return c.emitAll(ready)
}

// emitAll writes the batches in ready, in order: handed to the pipeline in
// concurrent mode, else merged and written here.
func (c *core) emitAll(ready []*assemble.Batch) error {
	if len(ready) == 0 {
		return nil
	}
	if c.pipe == nil {
		for _, b := range ready {
			if err := c.write(b); err != nil {
				return err
			}
		}
		return nil
	}
	for _, b := range ready {
		c.count(b.ID, int64(b.Len()))
		c.written = append(c.written, b)
	}
	// Handed over a piece at a time, reaping between pieces: a poll can
	// release more than the pipeline holds, and submit waits for room,
	// so batches merged meanwhile free their records at once rather than
	// after the whole poll.
	for len(ready) > 0 {
		k, ints := 0, 0
		for k < len(ready) && (k == 0 || ints < 4*groupInts) {
			ints += ready[k].Len()
			k++
		}
		if err := c.pipe.submit(ready[:k]); err != nil {
			return err
		}
		c.reap()
		ready = ready[k:]
	}
	return nil
}

// reap tells the assembler which batches the pipeline has merged: their
// records' memory may go.
func (c *core) reap() {
	if c.pipe == nil {
		return
	}
	c.reaped = c.pipe.reap(c.reaped[:0])
	for _, b := range c.reaped {
		c.asm.Merged(b)
	}
	clear(c.reaped)
}

// settle waits until the pipeline, if any, has written every batch handed
// to it.
func (c *core) settle() error {
	if c.pipe == nil {
		return nil
	}
	err := c.pipe.drain()
	c.reap()
	return err
}

// advance begins the streaming batch if it may begin, and merges it as far
// as its chunks allow; done says it is written. In transactional mode it
// begins only in a transaction of its own (see stream.go): while batches
// written since the last commit are not committed, it waits for process to
// commit them.
func (c *core) advance() (done bool, err error) {
	if !c.begun {
		if c.cfg.transactional() && c.dirty {
			return false, nil
		}
		if err := c.settle(); err != nil { // the stream comes after them
			return false, err
		}
		if err := c.startStream(c.stream); err != nil {
			return false, err
		}
		c.begun = true
	}
	return c.pump()
}

// countReached reports whether -c is reached once extra more batches are
// written.
func (c *core) countReached(extra int64) bool {
	return c.cfg.Count > 0 && c.stats.Batches+extra >= c.cfg.Count
}

// write merges b chunk by chunk into the sink.
func (c *core) write(b *assemble.Batch) error {
	d := &c.scratch
	d.start(b)
	if c.vals == nil {
		c.vals = make([]int64, 4096)
	}
	if err := c.cfg.Sink.Begin(b.ID); err != nil {
		return fmt.Errorf("write batch %d: %w", b.ID, err)
	}
	n := int64(0)
	for {
		k, err := d.read(c.vals)
		if k > 0 {
			n += int64(k)
			if err := c.cfg.Sink.Write(c.vals[:k]); err != nil {
				return fmt.Errorf("write batch %d: %w", b.ID, err)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("merge batch %d: %w", b.ID, err)
		}
	}
	if err := c.cfg.Sink.End(); err != nil {
		return fmt.Errorf("write batch %d: %w", b.ID, err)
	}
	c.count(b.ID, n)
	c.asm.Merged(b)
	c.written = append(c.written, b)
	return nil
}

func (c *core) count(id, ints int64) {
	c.dirty = true
	c.lastWritten = max(c.lastWritten, id)
	c.stats.Batches++
	c.stats.Integers += ints
	c.cfg.Counters.Batches.Add(1)
	c.cfg.Counters.Integers.Add(ints)
}

// drop sends the records of a batch that became final incomplete to the
// dead letters, naming the missing segments.
func (c *core) drop(ctx context.Context, b *assemble.Batch) error {
	c.stats.Dropped++
	msg := c.incomplete(b)
	c.cfg.Log.Warn("incomplete batch", "batch", b.ID, "missing", b.Missing)
	for _, r := range b.Records() {
		if err := c.dlq.send(ctx, r.Ref.(*kgo.Record), assemble.ReasonIncomplete, msg); err != nil {
			return err
		}
	}
	c.dirty = true
	c.asm.Merged(b)
	c.written = append(c.written, b)
	return nil
}

// incomplete says why batch b, released without all its segments, goes to
// the dead letters: the message every one of its records carries.
func (c *core) incomplete(b *assemble.Batch) string {
	msg := fmt.Sprintf("batch %d is final without segments %v of %d", b.ID, b.Missing, b.Segments)
	if b.TimedOut {
		msg += fmt.Sprintf(" (incomplete after --batch-timeout %v)", c.cfg.BatchTimeout)
	}
	return msg
}

// sync makes everything written so far durable (sinks flushed, output and
// dead-letter records acknowledged), then marks those batches done so that
// their offsets may be committed.
func (c *core) sync(ctx context.Context) error {
	if err := c.settle(); err != nil {
		return err
	}
	if err := c.cfg.Sink.Flush(ctx); err != nil {
		return fmt.Errorf("flush output: %w", err)
	}
	if c.prod != nil {
		if err := c.prod.flush(ctx); err != nil {
			return fmt.Errorf("flush output topic: %w", err)
		}
	}
	for _, b := range c.written {
		c.asm.Done(b)
	}
	clear(c.written)
	c.written = c.written[:0]
	c.synced = time.Now()
	return nil
}

// commits returns the offsets safe to commit for the partitions in owned.
func (c *core) commits(owned map[int32]bool) map[int32]kgo.EpochOffset {
	out := map[int32]kgo.EpochOffset{}
	for _, o := range c.asm.Commits(nil) {
		if owned[o.Partition] {
			out[o.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset}
		}
	}
	return out
}

// noteUnassigned says, every 10s, that this process holds no partition: a
// group join that does not complete (a crashed member not yet evicted, a
// broker in trouble) is otherwise silent. It runs under mu.
func (c *core) noteUnassigned() {
	if len(c.next) > 0 {
		c.unassignedSince = time.Time{}
		return
	}
	now := time.Now()
	if c.unassignedSince.IsZero() {
		c.unassignedSince, c.unassignedTold = now, now
		return
	}
	if now.Sub(c.unassignedTold) >= 10*time.Second {
		c.unassignedTold = now
		c.cfg.Log.Info("waiting for the group to assign partitions (a crashed member is evicted after --session-timeout)",
			"group", c.cfg.Group, "waiting", now.Sub(c.unassignedSince).Round(time.Second).String())
	}
}

// atEnd reports, with -e, whether every partition assigned here has reached
// the end offset read at start, and returns the topic's partitions that are
// not assigned here (whose progress only the group's commits can tell).
func (c *core) atEnd() (bool, []int32) {
	if c.endAt == nil {
		return false, nil
	}
	var others []int32
	for p, end := range c.endAt {
		next, ok := c.next[p]
		switch {
		case !ok:
			others = append(others, p)
		case next < end:
			return false, nil
		}
	}
	return true, others
}

// chunkSource is a merge.Source over the chunks of one held segment.
type chunkSource struct {
	c [][]int64
	i int
}

func (s *chunkSource) Next() ([]int64, error) {
	if s.i == len(s.c) {
		return nil, io.EOF
	}
	s.i++
	return s.c[s.i-1], nil
}

// scratch is the decoder and merge state one goroutine reuses.
type scratch struct {
	dec    wire.Decoder
	merger merge.Merger
	chunks []chunkSource
	srcs   []merge.Source
	vals   []int64
	packed merge.Packed
	runs   [][][]int64
	pack   bool    // this batch merges with packed, not merger
	all    []int64 // a whole batch merged at once (fill), up to fillMax values
}

// fillMax is the most values a batch may have to be merged whole into
// scratch.all (1 MiB a goroutine) rather than piece by piece; fillRuns the
// most segments: past 16, Fill is slower than Read (BenchmarkPackedFill).
const fillMax, fillRuns = 1 << 17, 16

// start prepares d to merge b: with merge.Packed when b's values allow
// (they nearly always do: it needs their range within 2^59 for ten
// segments), else with the Merger.
func (d *scratch) start(b *assemble.Batch) {
	d.runs = slices.Grow(d.runs[:0], int(b.Segments))[:b.Segments]
	for s := range b.Segments {
		d.runs[s] = b.Chunks(s, d.runs[s][:0])
	}
	if d.pack = d.packed.Reset(d.runs); !d.pack {
		d.merger.Reset(d.sources(b)...)
	}
}

// read reads the merge start began, as Merger.Read does: (0, io.EOF) once
// every value is read.
func (d *scratch) read(buf []int64) (int, error) {
	if !d.pack {
		return d.merger.Read(buf)
	}
	if d.packed.Done() {
		return 0, io.EOF
	}
	return d.packed.Read(buf), nil
}

// fill merges the batch start began all at once, with Packed.Fill, which
// plays the merge from both ends and takes ~15% less time than read
// (BenchmarkPackedFill), when it can: packed, at most fillRuns segments,
// and into out if not nil (a sink takes values), else into d.all if it has
// at most fillMax values. It returns the merged values, or nil: merge with
// read instead (read also reports a batch with more values than out holds).
func (d *scratch) fill(out []int64) []int64 {
	if !d.pack || len(d.runs) > fillRuns {
		return nil
	}
	n := d.packed.Len()
	dst := out
	if dst == nil {
		if n > fillMax {
			return nil
		}
		if cap(d.all) < n {
			d.all = make([]int64, max(n, 4096))
		}
		dst = d.all
	}
	if d.packed.Fill(dst) != n {
		return nil
	}
	return dst[:n]
}

// sources returns merge sources over b's segments, chunk by chunk, reusing
// its memory.
func (d *scratch) sources(b *assemble.Batch) []merge.Source {
	d.chunks = slices.Grow(d.chunks[:0], int(b.Segments))[:b.Segments]
	d.srcs = d.srcs[:0]
	for s := range b.Segments {
		d.chunks[s] = chunkSource{c: b.Chunks(s, d.chunks[s].c[:0])}
		d.srcs = append(d.srcs, &d.chunks[s])
	}
	return d.srcs
}

// parallelFor runs fn(i) for i in [0,n) on at most len(pool) goroutines,
// each with its own scratch from pool, and returns when all are done.
func parallelFor(pool []scratch, n int, fn func(i int, d *scratch)) {
	var (
		mu   sync.Mutex
		next int
		wg   sync.WaitGroup
	)
	for g := range min(len(pool), n) {
		d := &pool[g]
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				fn(i, d)
			}
		})
	}
	wg.Wait()
}
