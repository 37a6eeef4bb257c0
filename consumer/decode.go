package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/wire"
)

// decoded is one record after decoding: the assembler's record, or why it
// was refused. It is kept to three words, as a poll holds one per record.
type decoded struct {
	r   *kgo.Record
	rec *assemble.Record // nil if refused (or a control record)
	bad *refusal         // why it was refused; nil if it was not
}

// refusal is why a record was refused: a dead letter's reason and message.
type refusal struct {
	reason string
	err    error
}

// decodeAll decodes records (stopping at offset limit unless it is -1),
// with their lanes if lanes (the batch layout).
// Small records' data and every assemble.Record are carved from slabs
// shared by the records of one call, not allocated one by one, so that the
// collector's work does not grow with the records. A held record keeps its
// slabs alive, as it keeps its fetch (see keepRaw), and slabs are small
// (slabInts, slabRecords), so what one pins beyond the records held is
// small too. A slab of records is as many as fill 16 KiB, an allocator
// size class, so that little of it is rounding.
func decodeAll(dec *wire.Decoder, rs []*kgo.Record, limit int64, lanes bool) []decoded {
	const slabInts, slabRecords = 4096, 16 << 10 / int(unsafe.Sizeof(assemble.Record{}))
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
		// A valid record holds at most half as many values as bytes,
		// plus one (each takes a digit, all but one a comma): a short
		// record takes that room without its commas counted, which
		// leaves fewer than 64 values of a slab unused at its end.
		n := len(r.Value)/2 + 1
		if n > 64 {
			n = wire.CountUpperBound(r.Value)
		}
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
			out = append(out, decoded{r: r, bad: &refusal{reason, err}})
			continue
		}
		var lane, nlanes int32
		if lanes {
			var err error
			if lane, nlanes, err = laneOf(r); err != nil {
				out = append(out, decoded{r: r, bad: &refusal{assemble.ReasonLanes, fmt.Errorf("%s: %w", kafka.Source(r), err)}})
				continue
			}
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
			Chunk: seg.Chunk, Last: seg.Last, Data: seg.Data, Lane: lane, Lanes: nlanes, Time: r.Timestamp.UnixMilli(),
		})
		rec := &recs[len(recs)-1]
		rec.Seal() // here, on the decoding core, while the data is in cache
		out = append(out, decoded{r: r, rec: rec})
	}
	return out
}

// laneOf returns the lane of a record of a repartitioned topic and the
// number of lanes, from the headers the repartition stage adds
// (HeaderSource, HeaderPartitions); a record without them is lane 0 of 0
// (one lane: see assemble.Lanes).
func laneOf(r *kgo.Record) (int32, int32, error) {
	var src, parts string
	for _, h := range r.Headers {
		switch h.Key {
		case kafka.HeaderSource:
			src = string(h.Value) // the last one: the repartition stage's
		case kafka.HeaderPartitions:
			parts = string(h.Value)
		}
	}
	if parts == "" {
		return 0, 0, nil
	}
	n, err := strconv.ParseInt(parts, 10, 32)
	if err != nil || n < 1 {
		return 0, 0, fmt.Errorf("header %s %q is not a partition count", kafka.HeaderPartitions, parts)
	}
	// topic/partition@offset; topic names cannot hold '/' or '@'.
	i, j := strings.LastIndexByte(src, '/'), strings.LastIndexByte(src, '@')
	if i < 0 || j < i {
		return 0, 0, fmt.Errorf("header %s %q is not topic/partition@offset", kafka.HeaderSource, src)
	}
	lane, err := strconv.ParseInt(src[i+1:j], 10, 32)
	if err != nil || lane < 0 || lane >= n {
		return 0, 0, fmt.Errorf("header %s %q names no partition of %d", kafka.HeaderSource, src, n)
	}
	return int32(lane), int32(n), nil
}

// decoding is one poll's records being decoded in parallel: partition i
// of the poll (in the order EachPartition visits them) has its records in
// get(i) once decoded.
type decoding struct {
	decs  [][]decoded
	ready []chan struct{} // ready[i] is closed once decs[i] is set
	wait  func()          // returns once every partition is decoded
}

// get returns the records of the poll's i-th partition, waiting for them.
func (d *decoding) get(i int) []decoded {
	<-d.ready[i]
	return d.decs[i]
}

// decodeParallel starts decoding each fetched partition's records on its
// own goroutine, at most one per core at a time, in the order EachPartition
// visits them, and returns without waiting: the caller assembles the first
// partitions while the rest are decoded. The caller calls wait before the
// next poll, for the decoders are the engine's.
func (e *engine) decodeParallel(fs kgo.Fetches) *decoding {
	var rs [][]*kgo.Record
	var limits []int64
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) > 0 {
			rs = append(rs, fp.Records)
			limits = append(limits, e.limit(fp.Partition)) // fixed at start: no lock
		}
	})
	d := &decoding{decs: make([][]decoded, len(rs)), ready: make([]chan struct{}, len(rs))}
	for i := range d.ready {
		d.ready[i] = make(chan struct{})
	}
	lanes := e.cfg.Layout == LayoutBatch
	d.wait = goParallel(e.pool, len(rs), func(i int, dec *wire.Decoder) {
		d.decs[i] = decodeAll(dec, rs[i], limits[i], lanes)
		close(d.ready[i])
	})
	return d
}

// goParallel starts fn(i) for i in [0,n), in order, on at most len(pool)
// goroutines, each with its own element of pool; wait returns once all
// are done.
func goParallel[T any](pool []T, n int, fn func(i int, d *T)) (wait func()) {
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
	return wg.Wait
}

// assemble hands rec to the assembler and returns why it was refused, if
// it was.
func (e *engine) assemble(rec *assemble.Record) *refusal {
	v, err := e.asm().Add(rec)
	switch v {
	case assemble.Duplicate:
		e.stats.Duplicates++
	case assemble.Rejected:
		bad := &refusal{assemble.ReasonConflict, err}
		var rej *assemble.Reject
		if errors.As(err, &rej) {
			bad.reason = rej.Reason
		}
		return bad
	}
	return nil
}

// take adds the records of one fetched partition, decoding them with the
// engine's decoder.
func (e *engine) take(ctx context.Context, fp *kgo.FetchPartition) error {
	return e.add(ctx, fp, decodeAll(&e.dec, fp.Records, e.limit(fp.Partition), e.cfg.Layout == LayoutBatch))
}

// add hands decoded records of one fetched partition to the assembler, bad
// ones to the dead letters, and records the partition's position.
func (e *engine) add(ctx context.Context, fp *kgo.FetchPartition, recs []decoded) error {
	p := fp.Partition
	next, ok := e.led.Next(p)
	if !ok {
		return nil // revoked since the fetch
	}
	for _, d := range recs {
		bad := d.bad
		if d.rec != nil {
			e.keepRaw(d.r, d.rec)
			if msg := e.tooLarge(d.r, d.rec); msg != "" {
				bad = &refusal{assemble.ReasonOverBudget, errors.New(msg)}
			} else {
				bad = e.assemble(d.rec)
			}
		}
		if bad != nil {
			e.stats.Bad++
			e.badRecord(d.r, bad.reason, bad.err.Error())
		}
		next = d.r.Offset + 1
	}
	caughtUp := next >= fp.HighWatermark
	if lim := e.limit(p); lim >= 0 && next >= lim {
		caughtUp = true
	}
	e.led.Read(p, next, fp.HighWatermark, caughtUp)
	e.cfg.Metrics.Records.Add(int64(len(recs)))
	e.cfg.Metrics.SetLag(e.cfg.Topic, p, fp.HighWatermark-next)
	return nil
}
