package assemble

import (
	"errors"
	"fmt"
	"slices"
)

// Reasons Lanes refuses a record, besides the Assembler's.
const (
	// ReasonLanes: the record's lane is malformed, or disagrees with the
	// other records of its partition on the number of lanes.
	ReasonLanes = "repartition-headers"
	// ReasonLayout: the record is not on partition batch_id mod P, so its
	// batch cannot sit whole in one partition (a segment-layout topic read
	// as the batch layout, say).
	ReasonLayout = "not-batch-layout"
)

// Lanes assembles a batch-layout topic, where every record of batch b sits
// in partition b mod P, one partition at a time: each assigned partition has
// its own Assembler, so partitions owned by this process never
// wait for each other, and a group spread over processes needs nothing from
// partitions it does not own.
//
// # Lanes
//
// A partition written by one producer in the batch layout is ordered by
// batch id, whole batch after whole batch. A partition of <topic>.by-batch,
// written by the repartition stage, is not: the stage's processes each
// forward the segments of the source partitions they own, at their own
// pace, so segment 0 of batch 90 can come before segment 7 of batch 50.
// What does hold is order within a lane: the records that came from one
// source partition, which one member at a time forwards in source order,
// in transactions that commit its source offsets with them (a member that
// takes the source partition over starts after the last commit, and a
// read_committed reader never sees an aborted record). So a by-batch
// partition is the segment layout again, restricted to the batches of one
// key: lane l plays the part of source partition l, holding segment s of
// each batch on lane s mod P_src.
//
// A partition's Assembler therefore sees lanes as its partitions: a
// record's lane and the number of lanes (the source topic's partition
// count) are Record.Lane and Record.Lanes, which the caller reads from
// where the repartition stage put them (headers, in package consumer); a
// record with Lanes 0 is lane 0 of 1, which makes a plain batch-layout
// partition one ordered lane. Completeness, finality (every lane that could
// hold a missing segment has moved past the batch), bad records and
// duplicates are then exactly the segment layout's, per lane.
//
// # Offsets and the start position
//
// Commits for a partition is the lowest of its lanes' commit offsets: below
// it every record is done. A batch completed by a lagging lane is written
// while records of later batches from faster lanes lie before its last
// record, so the commit can stay below records of batches already written.
// Read again after a restart, such a batch is missing the segments of the
// lanes that were below the commit, and every such lane has moved past it:
// it is exactly what assemble calls Cut, a batch begun before the start
// position, and it is skipped, not written twice and not dead-lettered. So
// every lane of a partition that starts above offset 0 starts Fresh, unless
// the commit says which batches are done (Start.Floor): then a record of a
// batch below the floor is a duplicate, and a batch above it that misses a
// segment is incomplete, not cut.
type Lanes struct {
	cfg      Config // template for each partition's Assembler
	parts    map[int32]*lanePart
	order    []int32 // assigned partitions, ascending: Next's visiting order
	inFlight map[*Batch]*Assembler
	late     int              // Late of partitions since revoked
	refused  map[int64]string // see Refuse
}

// lanePart is one assigned partition.
type lanePart struct {
	start    Start
	next     int64 // from Position
	caughtUp bool
	n        int32      // lanes: the source's partition count; 0 until a record says
	asm      *Assembler // nil until the first record
}

// NewLanes returns Lanes with no partition assigned; cfg is the template
// of each partition's Assembler.
func NewLanes(cfg Config) *Lanes {
	return &Lanes{cfg: cfg, parts: map[int32]*lanePart{}, inFlight: map[*Batch]*Assembler{}}
}

func (l *Lanes) Assign(p int32, s Start) {
	if _, ok := l.parts[p]; !ok {
		i, _ := slices.BinarySearch(l.order, p)
		l.order = slices.Insert(l.order, i, p)
	}
	l.parts[p] = &lanePart{start: s, next: s.Next, caughtUp: s.CaughtUp}
}

func (l *Lanes) Revoke(p int32) {
	lp := l.parts[p]
	if lp == nil {
		return
	}
	if lp.asm != nil {
		l.late += lp.asm.Late()
	}
	delete(l.parts, p)
	if i, ok := slices.BinarySearch(l.order, p); ok {
		l.order = slices.Delete(l.order, i, i+1)
	}
}

func (l *Lanes) Position(p int32, next int64, caughtUp bool) {
	lp := l.parts[p]
	if lp == nil {
		return
	}
	lp.next, lp.caughtUp = max(lp.next, next), caughtUp
	if lp.asm != nil {
		for q := range lp.n {
			lp.asm.Position(q, next, caughtUp)
		}
	}
}

// Add takes r into its partition's Assembler as a record of its lane: it
// sets r.Partition to r.Lane (r.Ref, the caller's, still says where it was
// read).
func (l *Lanes) Add(r *Record) (Verdict, error) {
	lp := l.parts[r.Partition]
	if lp == nil {
		return Rejected, &Reject{Msg: fmt.Sprintf("partition %d is not assigned", r.Partition)}
	}
	if n := int64(l.cfg.Partitions); n > 0 && r.BatchID >= 0 && r.BatchID%n != int64(r.Partition) {
		return Rejected, &Reject{Reason: ReasonLayout, Msg: fmt.Sprintf(
			"p%d@%d: batch %d belongs on partition %d of %d in the batch layout (is the topic in the segment layout? then read it as that, or repartition it)",
			r.Partition, r.Offset, r.BatchID, r.BatchID%n, n)}
	}
	lane, n := r.Lane, max(r.Lanes, 1)
	var err error
	switch {
	case lane < 0 || lane >= n:
		err = fmt.Errorf("lane %d is not one of %d", lane, n)
	case lp.asm != nil && n != lp.n:
		err = fmt.Errorf("says its source had %d partitions where earlier records of partition %d say %d", n, r.Partition, lp.n)
	}
	if err != nil {
		return Rejected, &Reject{Reason: ReasonLanes, Msg: fmt.Sprintf("p%d@%d: %v", r.Partition, r.Offset, err)}
	}
	if lp.asm == nil {
		l.open(lp, n)
	}
	p := r.Partition
	r.Partition = lane
	v, err := lp.asm.Add(r)
	var rej *Reject
	if errors.As(err, &rej) {
		rej.Msg = fmt.Sprintf("p%d lane %d (below, partition means lane): %s", p, lane, rej.Msg)
	}
	return v, err
}

// open creates lp's Assembler with n lanes, each starting where the
// partition is now.
func (l *Lanes) open(lp *lanePart, n int32) {
	cfg := l.cfg
	cfg.Partitions, cfg.Whole, cfg.SegmentLayout, cfg.FloorDuplicates = n, true, true, true
	lp.n, lp.asm = n, New(cfg)
	for id, why := range l.refused {
		lp.asm.Refuse(id, why)
	}
	// See "Offsets and the start position" above: records before a start
	// above 0 are done, or were never this consumer's. With a floor from
	// the commit they are known done by batch id, and a batch below the
	// start is what it seems.
	fresh := lp.start.Fresh || lp.start.Next > 0 && !lp.start.HasFloor
	for q := range n {
		lp.asm.Assign(q, Start{Next: lp.next, CaughtUp: lp.caughtUp, Fresh: fresh, Floor: lp.start.Floor, HasFloor: lp.start.HasFloor})
	}
}

// FloorOf is partition p's Floor (see Assembler.Floor): every batch of
// the partition below it is done.
func (l *Lanes) FloorOf(p int32) int64 {
	lp := l.parts[p]
	switch {
	case lp == nil:
		return 0
	case lp.asm == nil:
		return lp.start.Floor
	}
	return lp.asm.Floor()
}

// Evicted returns a batch some partition evicted as a far-ahead outlier,
// or nil (see Assembler.Evicted).
func (l *Lanes) Evicted() *Batch {
	for _, p := range l.order {
		if asm := l.parts[p].asm; asm != nil {
			if b := asm.Evicted(); b != nil {
				l.inFlight[b] = asm
				return b
			}
		}
	}
	return nil
}

// Next releases the next batch of the first partition, in ascending
// partition order, that has one.
func (l *Lanes) Next() *Batch {
	for _, p := range l.order {
		asm := l.parts[p].asm
		if asm == nil {
			continue
		}
		if b := asm.Next(); b != nil {
			l.inFlight[b] = asm
			return b
		}
	}
	return nil
}

func (l *Lanes) Done(b *Batch) {
	if asm, ok := l.inFlight[b]; ok {
		delete(l.inFlight, b)
		asm.Done(b) // also for a partition since revoked: it forgets b
	}
}

// Commits appends, per assigned partition with a known position, the lowest
// commit offset of its lanes.
func (l *Lanes) Commits(dst []Offset) []Offset {
	var sub []Offset
	for _, p := range l.order {
		lp := l.parts[p]
		if lp.asm == nil {
			if lp.next >= 0 {
				dst = append(dst, Offset{Partition: p, Offset: lp.next})
			}
			continue
		}
		sub = lp.asm.Commits(sub[:0])
		if len(sub) == 0 {
			continue
		}
		o := sub[0].Offset
		for _, s := range sub[1:] {
			o = min(o, s.Offset)
		}
		dst = append(dst, Offset{Partition: p, Offset: o})
	}
	return dst
}

// Pending sums the partitions'.
func (l *Lanes) Pending() int { return l.sum((*Assembler).Pending) }

// Late sums the partitions', and the batches released late across them.
func (l *Lanes) Late() int { return l.late + l.sum((*Assembler).Late) }

// Merged passes on to b's partition's Assembler.
func (l *Lanes) Merged(b *Batch) {
	if asm, ok := l.inFlight[b]; ok {
		asm.Merged(b)
	}
}

// Take passes on to b's partition's Assembler.
func (l *Lanes) Take(b *Batch, s int64) ([]int64, TakeState) {
	return l.inFlight[b].Take(b, s)
}

// Broken passes on to b's partition's Assembler.
func (l *Lanes) Broken(b *Batch) bool { return l.inFlight[b].Broken(b) }

// Refuse refuses batch id in every partition, now and when opened later.
func (l *Lanes) Refuse(id int64, why string) {
	if l.refused == nil {
		l.refused = map[int64]string{}
	}
	l.refused[id] = why
	for _, lp := range l.parts {
		if lp.asm != nil {
			lp.asm.Refuse(id, why)
		}
	}
}

// PendingBytes sums the partitions'.
func (l *Lanes) PendingBytes() int { return l.sum((*Assembler).PendingBytes) }

func (l *Lanes) sum(f func(*Assembler) int) int {
	n := 0
	for _, lp := range l.parts {
		if lp.asm != nil {
			n += f(lp.asm)
		}
	}
	return n
}

// Wanted names, for a streaming batch, its partition; else every partition
// whose lowest batch waits on more of the partition's records (partitions
// are independent in the batch layout: one with nothing pending only adds
// to what is held).
func (l *Lanes) Wanted(dst []int32, streaming *Batch) []int32 {
	if streaming != nil {
		for _, p := range l.order {
			if lp := l.parts[p]; lp.asm != nil && lp.asm == l.inFlight[streaming] {
				return append(dst, p)
			}
		}
		return dst
	}
	var sub []int32
	for _, p := range l.order {
		lp := l.parts[p]
		if lp.asm == nil || len(lp.asm.Wanted(sub[:0], nil)) > 0 {
			dst = append(dst, p)
		}
	}
	return dst
}
