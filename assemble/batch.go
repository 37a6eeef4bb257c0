package assemble

import (
	"math/bits"
	"slices"
	"time"
)

// Batch is one batch as assembled: its segments, each a list of chunks.
type Batch struct {
	ID       int64
	Segments int64
	// Missing lists, for a dropped batch, the segments that never
	// completed; nil for a complete one.
	Missing []int64
	// Cut says a dropped batch began before this consumer's start position
	// (see Start.Fresh): its missing records were never this consumer's to
	// read, so it is not the producer's fault and not a bad record.
	Cut bool
	// TimedOut says a dropped batch became final by Config.Timeout.
	TimedOut bool
	// Streaming says the batch was released before it was complete, to be
	// merged while its chunks arrive: see Assembler.Take.
	Streaming bool
	// Evicted says the batch was taken back as a far-ahead outlier (see
	// Config.MaxBatchGap): its records go to the dead letters as such.
	Evicted bool

	born time.Time // when its first record arrived (with a Timeout)

	segs    []segment
	records []*Record // every record held, in arrival order
	full    int64     // segments complete
	ints    int       // integers held
	size    int       // bytes held (see Record.Size)
	// What outlives the records a streaming merge takes: the lowest offset
	// per partition of any record accepted (the commit floor), and every
	// (partition, segment) a record came from (the layout, see holders).
	low    []Offset
	places []place
	sum    *summary // set once merged (Assembler.Merged): the records are gone
	out    int      // its records' bytes in Assembler.out: released whole, until merged
	time   int64    // the latest Record.Time
}

type place struct {
	partition int32
	segment   int64
}

type segment struct {
	chunks []*Record // held, by ascending chunk index, no two alike
	last   int64     // index of the last chunk once seen, else -1
	taken  int64     // chunks taken by a streaming merge: those below it
	merged *merged   // what they leave behind; nil until one is taken
}

// merged is what a streaming merge leaves of the chunks it took from a
// segment: their fingerprints (to tell a retry from a conflict) and the
// last value of the last non-empty one. Apart from segment, as few
// batches stream and every batch has segments.
type merged struct {
	prints  []uint64
	tail    int64
	hasTail bool
}

// prints returns the fingerprints of the chunks taken from s.
func (s *segment) prints() []uint64 {
	if s.merged == nil {
		return nil
	}
	return s.merged.prints
}

func (s *segment) done() bool { return s.last >= 0 && s.taken+int64(len(s.chunks)) == s.last+1 }

// newBatch returns an empty batch of segs segments, its slices sized for
// the usual batch, one chunk per segment, each from its own partition: a
// few allocations per batch rather than one per record and growth.
func newBatch(id, segs int64) *Batch {
	b := &Batch{ID: id, Segments: segs, segs: make([]segment, segs)}
	n := int(min(segs, 64))      // more is grown as it comes
	ptrs := make([]*Record, 2*n) // the segments' chunks, then records
	for i := range b.segs {
		b.segs[i].last = -1
		if i < n {
			b.segs[i].chunks = ptrs[i : i : i+1]
		}
	}
	b.records = ptrs[n : n : 2*n]
	b.places = make([]place, 0, n)
	b.low = make([]Offset, 0, n)
	return b
}

// cost estimates the bytes a batch's own structures take while it is known:
// the Batch, its segments and their slices, its map entry.
func (b *Batch) cost() int { return batchCost(int64(len(b.segs))) }

// batchCost is the cost of a batch of segs segments.
func batchCost(segs int64) int { return 256 + 96*int(segs) }

// Complete reports whether every segment has all its chunks.
func (b *Batch) Complete() bool { return b.full == b.Segments }

// Len is the number of integers in the batch.
func (b *Batch) Len() int { return b.ints }

// Bytes is the memory its records take, as Record.Size counts it.
func (b *Batch) Bytes() int { return b.size }

// Time is when the batch's last record was produced (the latest
// Record.Time), in Unix milliseconds; 0 if not known.
func (b *Batch) Time() int64 { return b.time }

// Records is every record of the batch, in the order they arrived.
func (b *Batch) Records() []*Record { return b.records }

// Chunks appends to dst the data of segment s, chunk by chunk in order, and
// returns it. The chunks are the batch's memory: read, do not keep.
func (b *Batch) Chunks(s int64, dst [][]int64) [][]int64 {
	for _, r := range b.segs[s].chunks {
		dst = append(dst, r.Data)
	}
	return dst
}

func (b *Batch) add(r *Record, a *Assembler) (Verdict, error) {
	s := &b.segs[r.SegmentID]
	if r.Chunk < s.taken {
		// Already merged (a re-read after a rebalance, or a retry).
		if fingerprint(r) == s.merged.prints[r.Chunk] {
			return Duplicate, nil
		}
		return Rejected, a.reject(ReasonConflict, r, "differs from the chunk already merged")
	}
	i, found := slices.BinarySearchFunc(s.chunks, r.Chunk, func(x *Record, c int64) int { return cmpInt(x.Chunk, c) })
	if found {
		if same(s.chunks[i], r) {
			return Duplicate, nil
		}
		return Rejected, a.reject(ReasonConflict, r, "differs from the copy at p%d@%d", s.chunks[i].Partition, s.chunks[i].Offset)
	}
	if s.last >= 0 && r.Chunk > s.last {
		return Rejected, a.reject(ReasonChunk, r, "comes after the segment's last chunk %d", s.last)
	}
	if r.Last && i < len(s.chunks) {
		return Rejected, a.reject(ReasonChunk, r, "is marked last but chunk %d is already held", s.chunks[len(s.chunks)-1].Chunk)
	}
	// Chunks of one segment continue in ascending order: compare with the
	// nearest non-empty chunks held on either side (or merged before).
	if len(r.Data) > 0 {
		below := false
		for j := i - 1; j >= 0; j-- {
			if d := s.chunks[j].Data; len(d) > 0 {
				if d[len(d)-1] > r.Data[0] {
					return Rejected, a.reject(ReasonUnsorted, r, "starts at %d below chunk %d's end %d", r.Data[0], s.chunks[j].Chunk, d[len(d)-1])
				}
				below = true
				break
			}
		}
		if m := s.merged; !below && m != nil && m.hasTail && m.tail > r.Data[0] {
			return Rejected, a.reject(ReasonUnsorted, r, "starts at %d below the merged chunks' end %d", r.Data[0], m.tail)
		}
		for j := i; j < len(s.chunks); j++ {
			if d := s.chunks[j].Data; len(d) > 0 {
				if d[0] < r.Data[len(r.Data)-1] {
					return Rejected, a.reject(ReasonUnsorted, r, "ends at %d above chunk %d's start %d", r.Data[len(r.Data)-1], s.chunks[j].Chunk, d[0])
				}
				break
			}
		}
	}
	s.chunks = slices.Insert(s.chunks, i, r)
	if r.Last {
		s.last = r.Chunk
	}
	if s.done() {
		b.full++
	}
	b.records = append(b.records, r)
	b.note(r)
	a.hold(r, 1)
	return Accepted, nil
}

// note adds r to the batch's commit floor and layout evidence.
func (b *Batch) note(r *Record) {
	b.time = max(b.time, r.Time)
	b.ints += len(r.Data)
	b.size += r.size()
	if pl := (place{r.Partition, r.SegmentID}); !slices.Contains(b.places, pl) {
		b.places = append(b.places, pl)
	}
	for i := range b.low {
		if b.low[i].Partition == r.Partition {
			b.low[i].Offset = min(b.low[i].Offset, r.Offset)
			return
		}
	}
	b.low = append(b.low, Offset{r.Partition, r.Offset})
}

// holds reports whether b already holds an identical copy of r.
func (b *Batch) holds(r *Record) bool {
	if r.SegmentID >= int64(len(b.segs)) {
		return false
	}
	for _, c := range b.segs[r.SegmentID].chunks {
		if c.Chunk == r.Chunk {
			return same(c, r)
		}
	}
	return false
}

// forget drops b's records from partition p. b is pending, so it holds
// every record it accepted and its floor and layout are rebuilt from them.
func (b *Batch) forget(p int32, a *Assembler) {
	kept := b.records[:0]
	for _, r := range b.records {
		if r.Partition != p {
			kept = append(kept, r)
			continue
		}
		s := &b.segs[r.SegmentID]
		if s.done() {
			b.full--
		}
		s.chunks = slices.DeleteFunc(s.chunks, func(c *Record) bool { return c == r })
		if r.Last {
			s.last = -1
		}
		a.hold(r, -1)
	}
	clear(b.records[len(kept):])
	b.records = kept
	b.ints, b.size, b.low, b.places = 0, 0, b.low[:0], b.places[:0]
	for _, r := range b.records {
		b.note(r)
	}
}

func (b *Batch) missing() []int64 {
	var m []int64
	for i := range b.segs {
		if !b.segs[i].done() {
			m = append(m, int64(i))
		}
	}
	return m
}

func same(x, y *Record) bool {
	return x.Last == y.Last && slices.Equal(x.Data, y.Data)
}

// summary remembers a released batch's records by a fingerprint, so that a
// late identical copy (a producer retry) is told from a conflicting one
// without keeping the data.
type summary struct {
	// p holds, for a batch of S segments, S+1 offsets and then the
	// fingerprints: those of segment s's chunks are p[p[s]:p[s+1]], chunk
	// c at p[s]+c, 0 for a chunk never held (fingerprints are never 0,
	// see fingerprint). One slice, not a map or a slice per segment: most
	// batches are a few one-chunk segments, for which a map per batch
	// costs more than the rest of their release.
	p []uint64
}

func (b *Batch) summarise() *summary {
	n := len(b.segs)
	var small [64]int
	counts := small[:0] // chunks per segment: taken while streaming, or held
	if n > len(small) {
		counts = make([]int, n)
	}
	counts = counts[:n]
	for i := range b.segs {
		counts[i] = len(b.segs[i].prints())
	}
	for _, r := range b.records {
		counts[r.SegmentID] = max(counts[r.SegmentID], int(r.Chunk)+1)
	}
	total := n + 1
	for _, c := range counts {
		total += c
	}
	p := make([]uint64, total)
	off := n + 1
	for i, c := range counts {
		p[i] = uint64(off)
		copy(p[off:], b.segs[i].prints())
		off += c
	}
	p[n] = uint64(off)
	for _, r := range b.records {
		p[int(p[r.SegmentID])+int(r.Chunk)] = fingerprint(r)
	}
	return &summary{p: p}
}

func (s *summary) has(r *Record) bool {
	if r.SegmentID < 0 || r.SegmentID >= int64(s.p[0])-1 { // p[0] is S+1
		return false
	}
	lo, hi := int64(s.p[r.SegmentID]), int64(s.p[r.SegmentID+1])
	if r.Chunk < 0 || r.Chunk >= hi-lo {
		return false
	}
	f := s.p[lo+r.Chunk]
	return f != 0 && f == fingerprint(r)
}

// fingerprint is r's fingerprint: the one Seal took, or fingerprintOf.
func fingerprint(r *Record) uint64 {
	if r.print != 0 {
		return r.print
	}
	return fingerprintOf(r)
}

// fingerprintOf is FNV-1a over the record's values (one 64-bit word each, in
// four interleaved lanes, so that four multiplies are in flight at once
// rather than one chain of them; BenchmarkFingerprint measures it), its
// length and its last flag. It is paid once per record, by Seal or at
// release, and compared only within this process. It is never 0.
func fingerprintOf(r *Record) uint64 {
	const prime = 1099511628211
	h0, h1, h2, h3 := uint64(14695981039346656037), uint64(0x9E3779B97F4A7C15), uint64(0xC2B2AE3D27D4EB4F), uint64(0x165667B19E3779F9)
	d := r.Data
	for len(d) >= 4 {
		h0 = (h0 ^ uint64(d[0])) * prime
		h1 = (h1 ^ uint64(d[1])) * prime
		h2 = (h2 ^ uint64(d[2])) * prime
		h3 = (h3 ^ uint64(d[3])) * prime
		d = d[4:]
	}
	for _, v := range d {
		h0 = (h0 ^ uint64(v)) * prime
	}
	h := (h0 ^ bits.RotateLeft64(h1, 16)) * prime
	h = (h ^ bits.RotateLeft64(h2, 32)) * prime
	h = (h ^ bits.RotateLeft64(h3, 48)) * prime
	if r.Last {
		h ^= 1
	}
	h = (h ^ uint64(len(r.Data))) * prime
	return max(h, 1) // 0 means "none" in a summary
}
