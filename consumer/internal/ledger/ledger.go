package ledger

import "github.com/segmerge/segmerge/assemble"

// Assembler is what the ledger and the consumer ask of batch assembly:
// *assemble.Assembler (every partition of a segment-layout topic) and
// *assemble.Lanes (a batch-layout topic, partition by partition) both are.
type Assembler interface {
	Assign(p int32, s assemble.Start)
	Revoke(p int32)
	Position(p int32, next int64, caughtUp bool)
	Add(r *assemble.Record) (assemble.Verdict, error)
	Next() *assemble.Batch
	Done(b *assemble.Batch)
	Commits(dst []assemble.Offset) []assemble.Offset
	Pending() int
	Late() int
	Merged(b *assemble.Batch)
	PendingBytes() int
	Wanted(dst []int32, streaming *assemble.Batch) []int32
	Take(b *assemble.Batch, s int64) ([]int64, assemble.TakeState)
	Broken(b *assemble.Batch) bool
	Refuse(id int64, why string)
	FloorOf(p int32) int64
	Evicted() *assemble.Batch
}

var (
	_ Assembler = (*assemble.Assembler)(nil)
	_ Assembler = (*assemble.Lanes)(nil)
)

// part is one assigned partition.
type part struct {
	next int64          // the next offset to read; -1 unknown
	hwm  int64          // the high watermark last seen
	base assemble.Start // where the last commit left it
	dead []dead         // dead letters waiting for the commit to pass them
}

// Mark is what a commit says of a partition: every record below Offset is
// done, and so is every batch below Floor.
type Mark struct {
	Offset int64
	Floor  int64
}

// dead is a dead letter of the record at offset off, held until a commit
// passes it (see Dead).
type dead struct {
	off  int64
	size int
	item any
}

// Ledger is the offsets core (see the package doc). Not safe for
// concurrent use.
type Ledger struct {
	newAsm      func() Assembler
	asm         Assembler
	parts       map[int32]*part
	written     []*assemble.Batch // written, dropped or skipped since the last Durable
	lastWritten int64             // highest batch id written; -1 none
	dirty       bool              // written or dropped since the last commit
	refused     map[int64]string  // see Refuse
	deadBytes   int               // what the dead letters held take
}

// New returns a Ledger with no partition assigned, whose assemblers
// newAsm makes.
func New(newAsm func() Assembler) *Ledger {
	return &Ledger{newAsm: newAsm, asm: newAsm(), parts: map[int32]*part{}, lastWritten: -1}
}

// Asm is the assembler in use; a Rollback replaces it.
func (l *Ledger) Asm() Assembler { return l.asm }

// Assign adds partitions, to be read from their starts, which are also
// their bases.
func (l *Ledger) Assign(starts map[int32]assemble.Start) {
	for p, s := range starts {
		l.asm.Assign(p, s)
		l.parts[p] = &part{next: s.Next, base: s}
	}
}

// Revoke drops partitions: their pending records, and the dead letters
// their commit had not passed, are read again by their next owner from the
// committed offset.
func (l *Ledger) Revoke(parts []int32) {
	for _, p := range parts {
		l.asm.Revoke(p)
		if pt := l.parts[p]; pt != nil {
			l.dropDead(pt)
			delete(l.parts, p)
		}
	}
}

// Assigned is how many partitions are assigned.
func (l *Ledger) Assigned() int { return len(l.parts) }

// Next returns where partition p is read next, and whether it is
// assigned.
func (l *Ledger) Next(p int32) (int64, bool) {
	pt := l.parts[p]
	if pt == nil {
		return 0, false
	}
	return pt.next, true
}

// Read says partition p was read up to next (the offset after its last
// record), its high watermark is hwm, and whether it holds nothing more
// for now.
func (l *Ledger) Read(p int32, next, hwm int64, caughtUp bool) {
	pt := l.parts[p]
	if pt == nil {
		return
	}
	pt.next, pt.hwm = max(pt.next, next), hwm
	l.asm.Position(p, pt.next, caughtUp)
}

// Wrote says released batch b is written to the sinks.
func (l *Ledger) Wrote(b *assemble.Batch) {
	l.lastWritten = max(l.lastWritten, b.ID)
	l.dirty = true
	l.written = append(l.written, b)
}

// Dropped says released batch b went to the dead letters.
func (l *Ledger) Dropped(b *assemble.Batch) {
	l.dirty = true
	l.written = append(l.written, b)
}

// Skipped says released batch b was begun before this consumer's start,
// and is neither written nor dropped.
func (l *Ledger) Skipped(b *assemble.Batch) { l.written = append(l.written, b) }

// Durable says everything written so far is flushed: those batches are
// done, and Commits may pass their records.
func (l *Ledger) Durable() {
	for _, b := range l.written {
		l.asm.Done(b)
	}
	clear(l.written)
	l.written = l.written[:0]
}

// Dirty reports whether batches were written or dropped since the last
// commit.
func (l *Ledger) Dirty() bool { return l.dirty }

// Commits returns what is safe to commit for the assigned partitions that
// owns accepts (nil: all): the offsets, and the floors.
func (l *Ledger) Commits(owns func(p int32) bool) map[int32]Mark {
	out := map[int32]Mark{}
	for _, o := range l.asm.Commits(nil) {
		if owns == nil || owns(o.Partition) {
			out[o.Partition] = Mark{Offset: o.Offset, Floor: l.asm.FloorOf(o.Partition)}
		}
	}
	return out
}

// Unchanged reports whether committing marks would change nothing: every
// partition in them is assigned and was last committed at its mark. A
// partition read from a reset (Fresh) or from a commit with no floor
// always changes: its first commit fixes where the group resumes.
func (l *Ledger) Unchanged(marks map[int32]Mark) bool {
	for p, m := range marks {
		pt := l.parts[p]
		if pt == nil {
			return false
		}
		b := pt.base
		if b.Fresh || !b.HasFloor || b.Next != m.Offset || b.Floor != m.Floor {
			return false
		}
	}
	return true
}

// Committed says marks are the group's commits, covering everything
// written so far: each partition's base moves there.
func (l *Ledger) Committed(marks map[int32]Mark) {
	for p, m := range marks {
		if pt := l.parts[p]; pt != nil {
			pt.base.Next, pt.base.Floor, pt.base.HasFloor, pt.base.Fresh = m.Offset, m.Floor, true, false
		}
	}
	l.dirty = false
}

// Dead holds item, a dead letter of the record of partition p at offset
// off, costing size bytes, until a commit passes the record: a dead letter
// must commit with its record's offset, or a restart that reads the record
// again sends it again. Records of a batch still being assembled hold a
// partition's commit below the records after them, bad ones included.
func (l *Ledger) Dead(p int32, off int64, size int, item any) {
	pt := l.parts[p]
	if pt == nil {
		return // revoked since the fetch: its next owner judges it
	}
	pt.dead = append(pt.dead, dead{off: off, size: size, item: item})
	l.deadBytes += size
}

// TakeDead passes to send, in the order they came, the dead letters that
// marks pass, and forgets them: they go out with the commit of marks.
func (l *Ledger) TakeDead(marks map[int32]Mark, send func(item any)) {
	for p, m := range marks {
		pt := l.parts[p]
		if pt == nil || len(pt.dead) == 0 {
			continue
		}
		kept := pt.dead[:0]
		for _, d := range pt.dead {
			if d.off < m.Offset {
				send(d.item)
				l.deadBytes -= d.size
			} else {
				kept = append(kept, d)
			}
		}
		clear(pt.dead[len(kept):])
		pt.dead = kept
	}
}

// DeadBytes is what the dead letters held take.
func (l *Ledger) DeadBytes() int { return l.deadBytes }

func (l *Ledger) dropDead(pt *part) {
	for _, d := range pt.dead {
		l.deadBytes -= d.size
	}
	pt.dead = nil
}

// Rollback forgets everything since the last commit: a new assembler reads
// every assigned partition again from its base. It returns the highest
// batch id written so far, which a sink that keeps what it wrote skips
// through when the batches come again.
func (l *Ledger) Rollback() int64 {
	l.asm = l.newAsm()
	for id, why := range l.refused {
		l.asm.Refuse(id, why)
	}
	for p, pt := range l.parts {
		s := pt.base
		s.CaughtUp = s.Next >= pt.hwm
		l.asm.Assign(p, s)
		pt.next = s.Next
		l.dropDead(pt)
	}
	clear(l.written)
	l.written = l.written[:0]
	l.dirty = false
	return l.lastWritten
}

// Refuse makes every record of batch id refused, as incomplete with why,
// in this assembler and every one after a Rollback: a batch found broken
// after part of it was written.
func (l *Ledger) Refuse(id int64, why string) {
	if l.refused == nil {
		l.refused = map[int64]string{}
	}
	l.refused[id] = why
	l.asm.Refuse(id, why)
}
