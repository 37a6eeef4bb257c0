package assemble

import "slices"

// Next releases the next batch in order, or returns nil when the lowest
// pending batch must wait. A released batch is either complete, to be merged
// and written, or dropped (Complete false, Missing set), final without all
// its segments. Either way the caller calls Done once it is written.
func (a *Assembler) Next() *Batch {
	if len(a.pending) == 0 {
		return nil
	}
	b := a.pending[0]
	if !a.mayRelease(b.ID) {
		return nil
	}
	switch {
	case b.Complete():
	case a.final(b):
	case a.cfg.StreamAbove > 0 && a.PendingBytes() >= a.cfg.StreamAbove && b.ready():
		b.Streaming = true
	default:
		return nil
	}
	if !b.Complete() && !b.Streaming {
		b.Missing = b.missing()
		b.Cut = a.beganBeforeStart(b)
	}
	// Advance rather than shift: O(1), the array is reclaimed when an append
	// grows it.
	a.pending[0] = nil
	a.pending = a.pending[1:]
	a.inFlight[b] = struct{}{}
	if !b.Streaming {
		b.out = b.size
		a.out += b.out
	}
	if b.ID < a.maxOut {
		a.late++
	} else {
		a.maxOut = b.ID
	}
	return b
}

// mayRelease reports whether no assigned partition can still deliver a batch
// below id: each has reached id or is caught up.
func (a *Assembler) mayRelease(id int64) bool {
	if len(a.parts) == 0 || a.cfg.Whole && int32(len(a.parts)) < a.cfg.Partitions {
		return false
	}
	for p, ps := range a.every {
		if a.progressOf(p, ps) < id && !ps.caughtUp {
			return false
		}
	}
	return true
}

// final reports whether b can never gain another record: every partition
// that could hold one of its missing records has moved past it.
func (a *Assembler) final(b *Batch) bool {
	if a.cfg.Timeout > 0 && a.cfg.Now().Sub(b.born) >= a.cfg.Timeout {
		b.TimedOut = true
		return true
	}
	hs := a.holders(b)
	if len(hs) == 0 {
		return false
	}
	for _, q := range hs {
		ps := a.parts[q]
		if ps == nil || a.progressOf(q, ps) <= b.ID {
			return false
		}
	}
	return true
}

// beganBeforeStart reports whether a final batch's missing records lie
// before where this consumer started reading: every partition that could
// hold them started fresh (not at a group commit) and its first record
// already belonged to this batch or a later one. Such a batch was cut by the
// start position, not broken by the producer.
func (a *Assembler) beganBeforeStart(b *Batch) bool {
	hs := a.holders(b)
	for _, q := range hs {
		ps := a.parts[q]
		if ps == nil || !ps.fresh || ps.first < 0 || ps.first < b.ID {
			return false
		}
	}
	return len(hs) > 0
}

// holders returns the partitions that could hold b's missing records, as
// its own records reveal the layout (see the package doc): in the segment
// layout the partitions of the missing segments, in the batch layout b's
// partition, and when the records fit neither, every assigned partition.
func (a *Assembler) holders(b *Batch) []int32 {
	p := a.partitions()
	if p <= 0 {
		return nil
	}
	segLayout, batchLayout := a.layout(b, p)
	var hs []int32
	switch {
	case segLayout || batchLayout:
		if batchLayout {
			hs = append(hs, int32(b.ID%int64(p)))
		}
		if segLayout {
			for s := range b.segs {
				if q := int32(int64(s) % int64(p)); !b.segs[s].done() && !slices.Contains(hs, q) {
					hs = append(hs, q)
				}
			}
		}
	default:
		for q := range a.parts {
			hs = append(hs, q)
		}
	}
	return hs
}

// partitions is the topic's partition count, as Config.Partitions gives it
// or, without it, as many as are assigned.
func (a *Assembler) partitions() int32 {
	if a.cfg.Partitions > 0 {
		return a.cfg.Partitions
	}
	return int32(len(a.parts))
}

// layout reports which layouts b's records fit, on p partitions: all on
// partition segment mod p (segment layout), all on b mod p (batch layout;
// never with Config.SegmentLayout).
func (a *Assembler) layout(b *Batch, p int32) (seg, bat bool) {
	seg, bat = true, !a.cfg.SegmentLayout
	for _, r := range b.places {
		seg = seg && r.partition == int32(r.segment%int64(p))
		bat = bat && r.partition == int32(b.ID%int64(p))
	}
	return seg, bat
}

// Merged says released batch b has been merged and written (or its records
// forwarded): its data is no longer needed and stops counting as held. Its
// offsets stay uncommitted until Done.
func (a *Assembler) Merged(b *Batch) {
	if _, ok := a.inFlight[b]; !ok || b.sum != nil {
		return
	}
	a.out -= b.out
	b.out = 0
	b.sum = b.summarise()
	for _, r := range b.records {
		a.hold(r, -1)
		r.Data, r.Ref = nil, nil
	}
	clear(b.records)
	b.records = b.records[:0]
	for i := range b.segs {
		b.segs[i].chunks = nil
	}
}

// Done says a released batch is written (or, dropped, dead-lettered): its
// records are done and its memory is the caller's to reuse.
func (a *Assembler) Done(b *Batch) {
	if _, ok := a.inFlight[b]; !ok {
		return
	}
	delete(a.inFlight, b)
	delete(a.byID, b.ID)
	if !b.Evicted {
		a.maxDone = max(a.maxDone, b.ID)
	}
	a.out -= b.out
	b.out = 0
	for _, r := range b.records {
		a.hold(r, -1)
	}
	a.bytes -= b.cost()
	if b.sum == nil {
		b.sum = b.summarise()
	}
	a.released[b.ID] = b.sum
	a.relOrder = append(a.relOrder, b.ID)
	for len(a.relOrder) > a.cfg.Remember {
		delete(a.released, a.relOrder[0])
		a.relOrder = a.relOrder[1:]
	}
}

// Floor is the lowest batch id not yet done, as far as this Assembler
// knows: every batch below it that it has seen is Done (written or
// dropped), and none below it can come but as a replay. It is what a
// caller commits beside the offsets, as the next start's Start.Floor.
func (a *Assembler) Floor() int64 { return a.floorOf() }

// FloorOf is Floor, for every partition alike: the segment layout's
// batches span partitions.
func (a *Assembler) FloorOf(int32) int64 { return a.floorOf() }

func (a *Assembler) floorOf() int64 {
	f := max(a.floor, a.maxDone+1)
	for _, b := range a.pending {
		f = min(f, b.ID)
		break // pending is sorted: the first is the lowest
	}
	for b := range a.inFlight {
		if !b.Evicted {
			f = min(f, b.ID)
		}
	}
	return max(f, a.floor)
}
