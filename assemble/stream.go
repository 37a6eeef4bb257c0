package assemble

import "slices"

// Streaming batches
//
// A batch too large to hold whole is released early, as a Streaming batch,
// once Config.StreamAbove bytes are held and every segment has its first
// chunk (see Next). Its caller merges it while the rest arrives: Take hands
// over each segment's chunks in order and forgets them, so only the chunks
// between the merge and the network are held. Records of a streaming batch
// still go through Add, with the same checks; a chunk already taken is
// recognised by its fingerprint (a re-read is a Duplicate). Its offsets stay
// in Commits until Done, like any batch in flight.
//
// A streaming batch can still turn out broken: a chunk never comes. Broken
// says so once it is final (see the package doc) or a later chunk of a
// segment is held while an earlier one is missing — chunks of a segment
// arrive in order on one partition, so the earlier one is lost. What was
// merged is then the caller's to undo; Refuse makes the batch's records
// refused when they are read again.

// TakeState is what Take found.
type TakeState int

const (
	// Taken: the segment's next chunk is returned.
	Taken TakeState = iota
	// NotYet: the segment's next chunk has not arrived.
	NotYet
	// SegmentDone: every chunk of the segment has been taken.
	SegmentDone
)

// ready reports whether every segment has its next chunk held (or is done):
// a merge of b can begin.
func (b *Batch) ready() bool {
	for i := range b.segs {
		s := &b.segs[i]
		if !s.done() && (len(s.chunks) == 0 || s.chunks[0].Chunk != s.taken) {
			return false
		}
	}
	return true
}

// Take removes segment s's next chunk from streaming batch b and returns its
// data, which the caller may read until it calls Take for s again. The chunk
// no longer counts as held.
func (a *Assembler) Take(b *Batch, s int64) ([]int64, TakeState) {
	seg := &b.segs[s]
	if seg.last >= 0 && seg.taken > seg.last {
		return nil, SegmentDone
	}
	if len(seg.chunks) == 0 || seg.chunks[0].Chunk != seg.taken {
		return nil, NotYet
	}
	r := seg.chunks[0]
	seg.chunks = slices.Delete(seg.chunks, 0, 1)
	seg.taken++
	if seg.merged == nil {
		seg.merged = new(merged)
	}
	m := seg.merged
	m.prints = append(m.prints, fingerprint(r))
	if len(r.Data) > 0 {
		m.tail, m.hasTail = r.Data[len(r.Data)-1], true
	}
	if i := slices.Index(b.records, r); i >= 0 {
		b.records = slices.Delete(b.records, i, i+1)
	}
	b.ints -= len(r.Data)
	b.size -= r.size()
	a.hold(r, -1)
	return r.Data, Taken
}

// Broken reports whether streaming batch b can never complete: it is final
// while incomplete, or a segment's next chunk is missing while a later one
// is held. It sets b.Missing (and b.TimedOut) when it says so.
func (a *Assembler) Broken(b *Batch) bool {
	if b.Complete() {
		return false
	}
	if a.final(b) {
		b.Missing = b.missing()
		return true
	}
	var gaps []int64
	for i := range b.segs {
		s := &b.segs[i]
		if len(s.chunks) > 0 && s.chunks[0].Chunk != s.taken {
			gaps = append(gaps, int64(i))
		}
	}
	if gaps == nil {
		return false
	}
	// Segments still arriving may complete yet: only the gaps are known
	// to be missing.
	b.Missing = gaps
	return true
}

// Refuse makes Add reject every record of batch id from now on, as
// incomplete, with why as the message: a batch found Broken after part of
// it was written, whose records are read again after the caller undid it.
func (a *Assembler) Refuse(id int64, why string) {
	if a.refused == nil {
		a.refused = map[int64]string{}
	}
	a.refused[id] = why
}

// Wanted appends to dst the partitions that can deliver what the lowest
// unreleased batch needs next: for a streaming batch (or a pending one that
// may stream), the partitions of the segments whose next chunk is not held;
// for a pending one that may not, those that could hold its missing
// records; and for a pending one, those that hold its release back. A caller short of memory keeps fetching these
// and pauses the rest. Nil means nothing is waited for.
func (a *Assembler) Wanted(dst []int32, streaming *Batch) []int32 {
	b := streaming
	if b == nil {
		if len(a.pending) == 0 {
			return dst
		}
		b = a.pending[0]
	}
	if b.Streaming || a.cfg.StreamAbove > 0 {
		// Only the segments whose next chunk is missing hold the merge
		// (or, pending, the start of streaming) up. O(segments x
		// holders): holders and the layout are found once.
		hs := a.holders(b) // none when no partition is known
		var seg, bat bool
		if len(hs) > 0 {
			seg, bat = a.layout(b, a.partitions())
		}
		for i := range b.segs {
			s := &b.segs[i]
			if s.done() || len(s.chunks) > 0 && s.chunks[0].Chunk == s.taken {
				continue
			}
			for _, q := range hs {
				if !slices.Contains(dst, q) && couldHold(b, q, int64(i), a.partitions(), seg, bat) {
					dst = append(dst, q)
				}
			}
			if len(dst) == len(a.parts) {
				break // every partition is wanted already
			}
		}
		if b.Streaming {
			return dst
		}
	} else {
		for _, q := range a.holders(b) {
			if !slices.Contains(dst, q) {
				dst = append(dst, q)
			}
		}
	}
	// And those that hold its release back (see mayRelease).
	for q, ps := range a.parts {
		if ps.progress < b.ID && !ps.caughtUp && !slices.Contains(dst, q) {
			dst = append(dst, q)
		}
	}
	return dst
}

// couldHold reports whether partition q could hold segment s of b, given
// the layouts b's records fit on p partitions (see holders).
func couldHold(b *Batch, q int32, s int64, p int32, seg, bat bool) bool {
	if p <= 0 {
		return true
	}
	return !seg && !bat || seg && q == int32(s%int64(p)) || bat && q == int32(b.ID%int64(p))
}
