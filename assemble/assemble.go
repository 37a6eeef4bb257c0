package assemble

import (
	"fmt"
	"slices"
	"time"
)

// Record is one segment, or one chunk of a segment, and where it came from.
type Record struct {
	Partition int32
	Last      bool // this chunk ends its segment
	Offset    int64
	BatchID   int64
	SegmentID int64
	Segments  int64 // the batch's segment count; 0 means the Assembler's default
	Chunk     int64 // index of this chunk within its segment
	Data      []int64
	// Size is the memory the record costs while held, in bytes, as the
	// caller counts it (say its raw bytes plus its decoded data); 0 means
	// 8 bytes an integer. HeldBytes and StreamAbove are in these units.
	Size int
	// Time is when the record was produced, in Unix milliseconds (its
	// Kafka timestamp); 0 if not known. Batch.Time is the latest.
	Time int64
	// Lane and Lanes place a record of a repartitioned partition (see
	// Lanes): it came from source partition Lane of Lanes. Lanes 0 means
	// lane 0 of 1. An Assembler itself ignores them.
	Lane, Lanes int32
	// Ref is the caller's: the Assembler keeps it with the record and gives
	// it back with a dropped batch (to forward the raw record, say).
	Ref any

	print uint64 // the fingerprint, once Seal has taken it; else 0
}

// Seal takes the record's fingerprint now, which the Assembler otherwise
// takes when it releases the record's batch. A caller that decodes records
// on several cores seals them there, while the data is in cache, and the
// Assembler's one goroutine has that much less to do. Data and Last must
// not change after Seal, in the record or in a copy of it: a copy keeps
// the fingerprint.
func (r *Record) Seal() { r.print = fingerprintOf(r) }

// Verdict is what Add did with a record.
type Verdict int

const (
	// Accepted: the record is held in its batch.
	Accepted Verdict = iota
	// Duplicate: an identical copy is already held or released; the record
	// is dropped and done.
	Duplicate
	// Rejected: the record is bad (the error says why) and done.
	Rejected
)

// Reasons a record is refused; stable strings, fit for a header value.
const (
	ReasonSegment    = "segment-out-of-range" // segment id >= the batch's segment count
	ReasonSegments   = "segments-conflict"    // segment count differs from the batch's
	ReasonTooMany    = "too-many-segments"    // segment count above MaxSegments
	ReasonChunks     = "too-many-chunks"      // chunk index at or above MaxChunks
	ReasonConflict   = "conflicting-duplicate"
	ReasonChunk      = "chunk-order" // chunk after the last chunk, or a last chunk before others
	ReasonUnsorted   = "unsorted-across-chunks"
	ReasonLate       = "late"             // the batch is already released
	ReasonBackwards  = "backwards"        // batch id below its partition's progress
	ReasonIncomplete = "incomplete-batch" // a dropped batch's records carry this
	ReasonReplayed   = "replayed"         // the batch was done before this start (Start.Floor)
	ReasonFarAhead   = "far-ahead"        // batch id past the others by more than Config.MaxBatchGap
	ReasonOverBudget = "over-budget"      // a new batch's bookkeeping would pass Config.MaxPendingBytes
)

// MaxSegments is the most segments a batch may have. A batch's bookkeeping
// is sized by its segment count as its first record arrives, so a record
// claiming billions must be refused, not believed.
const MaxSegments = 1 << 16

// MaxChunks bounds a chunk's index in its segment (a segment of 10,000,000
// integers in records of 10 is a million chunks). A released batch's
// summary keeps a fingerprint per chunk up to the highest index seen, so a
// record claiming chunk 2^40 must be refused, not believed.
const MaxChunks = 1 << 20

// Reject is the error Add returns for a refused record.
type Reject struct {
	Reason string // one of the Reason constants
	Msg    string
}

func (r *Reject) Error() string { return "assemble: " + r.Msg }

// Config sets up an Assembler.
type Config struct {
	// Segments is the segment count of a batch whose records do not say;
	// default 10.
	Segments int64
	// Partitions is the input topic's partition count, which places
	// segments (s mod P) and batches (b mod P); default: the number of
	// partitions assigned when a batch is judged.
	Partitions int32
	// Whole says this consumer owns every partition of the topic (all
	// single-process modes): a partition not assigned at the moment, during
	// a rebalance, holds releases back like one that has not caught up.
	// Without it only assigned partitions are waited for (a member of a
	// group spread over processes, whose order is per partition).
	Whole bool
	// SegmentLayout says every batch is in the segment layout (segment s
	// on partition s mod Partitions), so a batch whose records so far all
	// sit on partition b mod Partitions is not also taken for the batch
	// layout, which would add that partition to the ones that must move
	// past it. Package consumer sets it for the lanes of a repartitioned
	// topic, whose partitions are lanes of the segment layout.
	SegmentLayout bool
	// Timeout makes a batch final once this long has passed since its
	// first record arrived, even if partitions that could complete it have
	// not moved on (a producer that died mid-batch, with nothing after it).
	// Zero waits for the partitions only.
	Timeout time.Duration
	// Now is the clock Timeout is measured on; default time.Now.
	Now func() time.Time
	// Remember is how many released batches are remembered to recognise
	// late copies of their records; default 4096.
	Remember int
	// StreamAbove lets the lowest pending batch be released before it is
	// complete, as a Streaming batch merged while its chunks arrive, once
	// the records held take at least this many bytes (see Record.Size) and
	// every segment has its first chunk. Zero never streams: every batch
	// is held whole until complete.
	StreamAbove int
	// MaxClaimBytes bounds what records may claim beyond the usual: a
	// record that would begin a new batch of more segments than Segments
	// is refused as over-budget when the bookkeeping that such batches
	// pending take beyond a batch of Segments (sized by the segment
	// counts they claim) would pass it, unless the batch would be the
	// lowest pending one and fits alone. A batch of Segments segments or
	// fewer is never refused for memory: its bookkeeping is a small part
	// of what its records take, and pausing partitions bounds those; a
	// refusal there would drop good batches whenever partitions run
	// unevenly. Zero means no bound.
	MaxClaimBytes int
	// MaxBatchGap makes a partition's jump suspect: when a record takes
	// its progress more than MaxBatchGap past what anything else known
	// (the highest batch released, the floor, the other partitions'
	// progress) vouches for, the partition counts as still at its old
	// progress when other batches are judged final or released, until
	// another partition catches up with it. If instead the partition's
	// next records come below the jump (at or above where it was before),
	// the incomplete batches of the jump that no other partition holds
	// records of are the outliers: they are evicted (see Evicted) and the
	// partition goes on from where it was. Zero means no check.
	MaxBatchGap int64
	// FloorDuplicates makes a record below its partition's Start.Floor a
	// Duplicate rather than a replayed one: for Lanes, whose partitions
	// re-read records of batches already done after every restart.
	FloorDuplicates bool
}

// Offset is a partition's commit offset: every record below it is done.
type Offset struct {
	Partition int32
	Offset    int64
}

type partition struct {
	progress int64 // highest batch id seen; -1 for none yet
	first    int64 // batch id of the first record accepted; -1 for none yet
	fresh    bool  // reading began at a reset, not a group commit
	next     int64 // the offset after the last record seen; -1 unknown
	caughtUp bool  // nothing known beyond next
	floor    int64 // batches below it were done before the start
	// jumpFrom is progress before a jump past MaxBatchGap that nothing
	// else known vouched for; noJump when there was none.
	jumpFrom int64
}

// noJump marks a partition whose progress did not jump.
const noJump = -2

// Assembler assembles batches; see the package doc. Not safe for concurrent
// use.
type Assembler struct {
	cfg      Config
	parts    map[int32]*partition
	partv    []*partition     // parts by index, for partitions 0..maxIndexed-1
	pending  []*Batch         // by ascending id
	byID     map[int64]*Batch // pending and in flight
	inFlight map[*Batch]struct{}
	released map[int64]*summary // remembered released batches
	relOrder []int64            // released ids, oldest first, for forgetting
	maxOut   int64              // highest id released so far; -1 none
	held     int
	bytes    int
	out      int // bytes of records of batches released whole and not yet merged
	late     int
	refused  map[int64]string // batch id -> why its records are refused (Refuse)
	floor    int64            // the highest Start.Floor of any partition
	maxDone  int64            // highest id Done; -1 none
	evicted  []*Batch         // see Evicted
}

// New returns an Assembler with no partitions assigned.
func New(cfg Config) *Assembler {
	if cfg.Segments <= 0 {
		cfg.Segments = 10
	}
	if cfg.Remember <= 0 {
		cfg.Remember = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Assembler{
		cfg:      cfg,
		parts:    make(map[int32]*partition),
		byID:     make(map[int64]*Batch),
		inFlight: make(map[*Batch]struct{}),
		released: make(map[int64]*summary),
		maxOut:   -1,
		maxDone:  -1,
	}
}

// Start is where reading an assigned partition begins.
type Start struct {
	// Next is the offset of the partition's next record; -1 if not known.
	Next int64
	// CaughtUp says the partition holds nothing beyond Next yet.
	CaughtUp bool
	// Fresh says Next is not a group commit (a reset to the start or end
	// of the log), so a batch may have begun before it; see Batch.Cut.
	Fresh bool
	// Floor, from the group's commit, says every batch below it was done
	// (written or dead-lettered) before this start: a record of such a
	// batch read again is a replay (or, with Config.FloorDuplicates, a
	// duplicate). HasFloor says the commit carried one (0 included).
	Floor    int64
	HasFloor bool
}

// Assign adds partition p, to be read from s.
func (a *Assembler) Assign(p int32, s Start) {
	ps := &partition{progress: -1, first: -1, next: s.Next, caughtUp: s.CaughtUp, fresh: s.Fresh, floor: s.Floor, jumpFrom: noJump}
	a.floor = max(a.floor, s.Floor)
	a.parts[p] = ps
	if p >= 0 && p < maxIndexed {
		a.partv = grow(a.partv, int(p)+1)
		a.partv[p] = ps
	}
}

// maxIndexed bounds the partitions found by index rather than in the map.
const maxIndexed = 4096

// part returns partition p's state, or nil if p is not assigned. It is
// asked for every record: a slice index for the usual partition numbers.
func (a *Assembler) part(p int32) *partition {
	if p >= 0 && int(p) < len(a.partv) {
		return a.partv[p]
	}
	return a.parts[p]
}

// every yields each assigned partition and its state: those numbered below
// maxIndexed from partv, in order, then any others from the map. It is
// asked once per batch released, where ranging over the map cost more
// than the rest of the release (BenchmarkSeedBatches).
func (a *Assembler) every(yield func(int32, *partition) bool) {
	n := 0
	for p, ps := range a.partv {
		if ps == nil {
			continue
		}
		n++
		if !yield(int32(p), ps) {
			return
		}
	}
	if n == len(a.parts) {
		return
	}
	for p, ps := range a.parts {
		if (p < 0 || int(p) >= len(a.partv)) && !yield(p, ps) {
			return
		}
	}
}

// grow returns s with length at least n, its elements kept.
func grow[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	return append(s, make([]T, n-len(s))...)
}

// Revoke removes partition p and forgets its records in pending batches:
// whoever reads p next re-reads them from the committed offset, which
// Commits kept at or below them. Batches already released keep theirs.
func (a *Assembler) Revoke(p int32) {
	delete(a.parts, p)
	if p >= 0 && int(p) < len(a.partv) {
		a.partv[p] = nil
	}
	for _, b := range a.pending {
		b.forget(p, a)
	}
	kept := a.pending[:0]
	for _, b := range a.pending {
		if len(b.records) == 0 {
			delete(a.byID, b.ID)
			a.bytes -= b.cost()
			continue
		}
		kept = append(kept, b)
	}
	clear(a.pending[len(kept):])
	a.pending = kept
}

// Position tells the Assembler that partition p's next offset is next and
// whether the partition holds nothing more for now. Call it after each fetch
// of p, after adding its records.
func (a *Assembler) Position(p int32, next int64, caughtUp bool) {
	ps := a.parts[p]
	if ps == nil {
		return
	}
	if next > ps.next {
		ps.next = next
	}
	ps.caughtUp = caughtUp
}

// Add takes a record. The Assembler keeps r and r.Data until the batch is
// done; the caller must not reuse them. A Rejected verdict comes with a
// *Reject error.
func (a *Assembler) Add(r *Record) (Verdict, error) {
	ps := a.part(r.Partition)
	if ps == nil {
		return Rejected, a.reject("", r, "partition %d is not assigned", r.Partition)
	}
	if r.Offset >= ps.next {
		ps.next = r.Offset + 1
	}
	segs := r.Segments
	if segs == 0 {
		segs = a.cfg.Segments
	}
	if segs > MaxSegments {
		return Rejected, a.reject(ReasonTooMany, r, "says %d segments, more than the %d a batch may have", segs, MaxSegments)
	}
	if r.SegmentID >= segs {
		return Rejected, a.reject(ReasonSegment, r, "segment %d is outside a batch of %d segments", r.SegmentID, segs)
	}
	if r.Chunk >= MaxChunks {
		return Rejected, a.reject(ReasonChunks, r, "is chunk %d of its segment, past the %d a segment may have", r.Chunk, MaxChunks)
	}
	if r.BatchID < ps.floor {
		if a.cfg.FloorDuplicates {
			return Duplicate, nil
		}
		return Rejected, a.reject(ReasonReplayed, r, "batch %d was done before this consumer started here (the group's commit says every batch below %d is written or dead-lettered): a replay", r.BatchID, ps.floor)
	}
	if r.BatchID < ps.progress && !a.evictJump(ps, r) {
		return Rejected, a.reject(ReasonBackwards, r, "goes backwards: partition %d is already at batch %d", r.Partition, ps.progress)
	}
	if len(a.refused) > 0 {
		if why, ok := a.refused[r.BatchID]; ok {
			return Rejected, a.reject(ReasonIncomplete, r, "%s", why)
		}
	}
	// Only ids up to the highest released can be released (or in flight);
	// most records are of batches still pending, found by their place.
	var b *Batch
	released := r.BatchID <= a.maxOut // so b may be in flight
	if released {
		if s := a.released[r.BatchID]; s != nil {
			if s.has(r) {
				return Duplicate, nil
			}
			return Rejected, a.reject(ReasonLate, r, "batch already released")
		}
		b = a.byID[r.BatchID]
	} else {
		b = a.pendingByID(r.BatchID)
	}
	if b == nil {
		if err := a.claim(r, segs); err != nil {
			return Rejected, err
		}
		b = newBatch(r.BatchID, segs)
		a.bytes += b.cost()
		if a.cfg.Timeout > 0 {
			b.born = a.cfg.Now()
		}
		a.byID[b.ID] = b
		i, _ := slices.BinarySearchFunc(a.pending, b.ID, func(x *Batch, id int64) int { return cmpInt(x.ID, id) })
		a.pending = slices.Insert(a.pending, i, b)
	} else if released && a.isInFlight(b) && !b.Streaming {
		// Released, not yet written: it is already complete or dropped.
		if b.sum != nil && b.sum.has(r) || b.sum == nil && b.holds(r) {
			return Duplicate, nil
		}
		return Rejected, a.reject(ReasonLate, r, "batch already released")
	} else if b.Segments != segs {
		return Rejected, a.reject(ReasonSegments, r, "says %d segments, batch has %d", segs, b.Segments)
	}
	v, err := b.add(r, a)
	if v == Accepted && ps.first < 0 {
		ps.first = r.BatchID
	}
	if v == Accepted && r.BatchID > ps.progress {
		if gap := a.cfg.MaxBatchGap; gap > 0 && ps.jumpFrom == noJump && past(r.BatchID, ps.progress, gap) &&
			past(r.BatchID, a.reference(r.Partition), gap) {
			ps.jumpFrom = ps.progress // nothing known vouches for it (see suspect)
		}
		ps.progress = r.BatchID
	}
	return v, err
}

// claim refuses a record that would begin a new batch of more segments
// than Config.Segments whose bookkeeping would take what such batches
// claim past Config.MaxClaimBytes (see there).
func (a *Assembler) claim(r *Record, segs int64) *Reject {
	max := a.cfg.MaxClaimBytes
	if max <= 0 || segs <= a.cfg.Segments {
		return nil
	}
	cost := a.excess(segs)
	claimed := 0
	for _, b := range a.pending {
		claimed += a.excess(b.Segments)
	}
	if claimed+cost <= max {
		return nil
	}
	if lowest := len(a.pending) == 0 || r.BatchID < a.pending[0].ID; lowest && cost <= max {
		return nil
	}
	return a.reject(ReasonOverBudget, r, "says %d segments (the usual batch has %d): its bookkeeping takes %d bytes more, and the batches pending that claim more than usual already take %d of the %d allowed",
		segs, a.cfg.Segments, cost, claimed, max)
}

// excess is what a batch of segs segments takes beyond one of
// Config.Segments.
func (a *Assembler) excess(segs int64) int {
	return max(batchCost(segs)-batchCost(a.cfg.Segments), 0)
}

// reference is the highest batch id known other than by partition p's
// own records: the highest released, the floor, and the other
// partitions' progress (two partitions that jumped alike vouch for each
// other); -1 when nothing is known. O(partitions): asked only of jumps
// past MaxBatchGap.
func (a *Assembler) reference(p int32) int64 {
	ref := max(a.maxOut, a.floor-1)
	for q, ps := range a.parts {
		if q != p {
			ref = max(ref, ps.progress)
		}
	}
	return ref
}

// past reports whether id lies more than gap above ref. The difference is
// taken in uint64: a record may claim any int64 id, and id-ref overflows
// int64 when ref is -1 (nothing known) and id near the largest.
func past(id, ref, gap int64) bool {
	return id > ref && uint64(id)-uint64(ref) > uint64(gap)
}

// suspect reports whether partition p's progress jumped past
// MaxBatchGap with nothing else known vouching for it yet; a jump that
// another partition has caught up with is cleared.
func (a *Assembler) suspect(p int32, ps *partition) bool {
	if ps.jumpFrom == noJump {
		return false
	}
	if !past(ps.progress, a.reference(p), a.cfg.MaxBatchGap) {
		ps.jumpFrom = noJump
		return false
	}
	return true
}

// progressOf is partition p's progress as other batches are judged by: a
// suspect jump does not count.
func (a *Assembler) progressOf(p int32, ps *partition) int64 {
	if a.suspect(p, ps) {
		return ps.jumpFrom
	}
	return ps.progress
}

// evictJump decides, for r below its partition's progress, whether the
// progress is an outlier: a suspect jump (see Config.MaxBatchGap) with r in
// the range it left, at or above the progress before it. If so, the
// incomplete pending batches above r that hold records of this partition
// only are evicted (see Evicted), the progress goes back to what it was
// before the jump, and evictJump reports true: r does not go backwards.
func (a *Assembler) evictJump(ps *partition, r *Record) bool {
	if r.BatchID < ps.jumpFrom || !a.suspect(r.Partition, ps) {
		return false
	}
	var out []*Batch
	for _, b := range a.pending {
		if b.ID <= r.BatchID || b.Complete() {
			continue
		}
		only := len(b.places) > 0
		for _, pl := range b.places {
			only = only && pl.partition == r.Partition
		}
		if only {
			out = append(out, b)
		}
	}
	for _, b := range out {
		i, _ := slices.BinarySearchFunc(a.pending, b.ID, func(x *Batch, id int64) int { return cmpInt(x.ID, id) })
		a.pending = slices.Delete(a.pending, i, i+1)
		b.Missing, b.Evicted = b.missing(), true
		b.out = b.size
		a.out += b.out
		a.inFlight[b] = struct{}{}
		a.evicted = append(a.evicted, b)
	}
	ps.progress, ps.jumpFrom = ps.jumpFrom, noJump
	for _, b := range a.pending { // what remains of the partition's batches
		for _, pl := range b.places {
			if pl.partition == r.Partition && b.ID > ps.progress {
				ps.progress = b.ID
			}
		}
	}
	return r.BatchID >= ps.progress
}

// Evicted returns a batch evicted as a far-ahead outlier (see
// Config.MaxBatchGap), or nil. It is in flight, like a dropped batch: the
// caller dead-letters its records and calls Merged and Done.
func (a *Assembler) Evicted() *Batch {
	if len(a.evicted) == 0 {
		return nil
	}
	b := a.evicted[0]
	a.evicted = a.evicted[1:]
	return b
}

// isInFlight reports whether b is released and not yet Done.
func (a *Assembler) isInFlight(b *Batch) bool {
	_, ok := a.inFlight[b]
	return ok
}

// pendingByID returns the pending batch id, or nil. Batch ids are usually
// dense, so it looks where id would sit if they were before asking the map.
func (a *Assembler) pendingByID(id int64) *Batch {
	if n := len(a.pending); n > 0 {
		if i := id - a.pending[0].ID; i >= 0 && i < int64(n) && a.pending[i].ID == id {
			return a.pending[i]
		}
		if id > a.pending[n-1].ID {
			return nil
		}
	}
	return a.byID[id]
}

func (a *Assembler) reject(reason string, r *Record, format string, args ...any) *Reject {
	return &Reject{Reason: reason, Msg: fmt.Sprintf("p%d@%d batch %d segment %d chunk %d: ", r.Partition, r.Offset, r.BatchID, r.SegmentID, r.Chunk) + fmt.Sprintf(format, args...)}
}
