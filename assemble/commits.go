package assemble

import (
	"slices"
	"sort"
)

// Commits appends to dst, for every assigned partition whose position is
// known, the offset below which all records are done, and returns it sorted
// by partition.
func (a *Assembler) Commits(dst []Offset) []Offset {
	start := len(dst)
	for p, ps := range a.parts {
		if ps.next >= 0 {
			dst = append(dst, Offset{p, ps.next})
		}
	}
	out := dst[start:]
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	lower := func(b *Batch) {
		for _, l := range b.low {
			i, ok := slices.BinarySearchFunc(out, l.Partition, func(o Offset, p int32) int { return cmpInt(int64(o.Partition), int64(p)) })
			if ok && l.Offset < out[i].Offset {
				out[i].Offset = l.Offset
			}
		}
	}
	for _, b := range a.pending {
		lower(b)
	}
	for b := range a.inFlight {
		lower(b)
	}
	return dst
}

// Pending is the number of batches held and not yet released.
func (a *Assembler) Pending() int { return len(a.pending) }

// InFlight is the number of batches released and not yet Done.
func (a *Assembler) InFlight() int { return len(a.inFlight) }

// Held is the number of integers held in pending and in-flight batches.
func (a *Assembler) Held() int { return a.held }

// HeldBytes is the memory the records held take, as Record.Size counts it,
// plus an estimate of each batch's own bookkeeping (which for batches of a
// few small records is most of it).
func (a *Assembler) HeldBytes() int { return a.bytes }

// PendingBytes is HeldBytes less the records of batches released whole
// and not yet Merged: what waits on records still to come. Those released
// are the caller's to merge and free (a caller merging on other goroutines
// may hold several polls' worth), so they neither make the lowest batch
// stream nor are a reason to stop fetching.
func (a *Assembler) PendingBytes() int { return a.bytes - a.out }

// hold counts r's memory in (sign 1) or out (sign -1).
func (a *Assembler) hold(r *Record, sign int) {
	n := sign * r.size()
	a.held += sign * len(r.Data)
	a.bytes += n
}

func (r *Record) size() int {
	if r.Size > 0 {
		return r.Size
	}
	return 8 * len(r.Data)
}

// Late counts batches released after a higher one (see the package doc).
func (a *Assembler) Late() int { return a.late }

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
