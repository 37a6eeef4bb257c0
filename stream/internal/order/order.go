package order

import (
	"fmt"
	"time"
)

// Pos is where a record sorts: by Key, then Partition, then Offset.
type Pos struct {
	Key       int64
	Partition int32
	Offset    int64
}

// Less reports whether a sorts before b.
func (a Pos) Less(b Pos) bool {
	switch {
	case a.Key != b.Key:
		return a.Key < b.Key
	case a.Partition != b.Partition:
		return a.Partition < b.Partition
	}
	return a.Offset < b.Offset
}

func (a Pos) String() string { return fmt.Sprintf("%d p%d@%d", a.Key, a.Partition, a.Offset) }

// Verdict is what became of a record.
type Verdict uint8

const (
	// OK: the record goes out in order.
	OK Verdict = iota
	// Late: it sorts below a record already given out.
	Late
	// Unsorted: its key is below its partition's previous key.
	Unsorted
	// Invalid: the caller refused it (its key could not be read) and
	// pushed it with this verdict, to be given back in its partition's
	// offset order; it counts as no key.
	Invalid
	// Duplicate: its offset is below the partition's next one; Push
	// ignored it.
	Duplicate
)

func (v Verdict) String() string {
	switch v {
	case OK:
		return "ok"
	case Late:
		return "late"
	case Unsorted:
		return "unsorted"
	case Invalid:
		return "invalid"
	}
	return "duplicate"
}

// Entry is a record in a Merger: where it sorts, its size in bytes (what
// MaxBytes counts) and the caller's item.
type Entry struct {
	Pos
	Size    int
	Item    any
	Verdict Verdict // set by Push, unless Invalid
	// Against is, for a Late record, the last record given out when it
	// arrived; for an Unsorted one, Against.Key is its partition's
	// previous key.
	Against Pos
}

// Config sets up a Merger.
type Config struct {
	// Partitions is how many partitions the input has, numbered from 0.
	Partitions int32
	// Idle is how long a partition that has read up to its end must have
	// received nothing before it is idle; negative: never idle.
	Idle time.Duration
	// MaxBytes bounds queued bytes before Pauses pauses partitions;
	// 0: no bound.
	MaxBytes int64
	// UnknownAtEnd says a partition whose next offset is unknown (State's
	// Next is -1: no commit) starts at its end, so counts as read up to
	// it until a record says otherwise.
	UnknownAtEnd bool
}

// PartState is a partition's part of a State.
type PartState struct {
	// Next is the first offset not given out (or rejected): where a
	// restart reads from; -1 if not known.
	Next int64
	// Prev is the key of the last record before Next that was not
	// unsorted, if HasPrev.
	Prev    int64
	HasPrev bool
}

// State is what a restart needs: each partition's PartState, and the last
// record given out, if HasLast.
type State struct {
	Parts   []PartState
	Last    Pos
	HasLast bool
}

// Merger orders records from sorted partitions (see the package doc).
type Merger struct {
	cfg     Config
	parts   []part
	last    Pos
	hasLast bool
	bytes   int64
	over    bool // past MaxBytes, not yet back under 3/4 of it
}

type part struct {
	q     []Entry // q[h:] are queued, in offset order
	h     int
	next  int64 // next offset to read; -1 unknown
	prev  int64 // last key pushed that was not unsorted
	cprev int64 // prev as of the queue's head
	end   int64 // the end offset last said; -1 unknown
	recv  time.Time
	bytes int64

	hasPrev, hasCPrev bool
	closed            bool
	paused            bool
}

// New returns a Merger that resumes from st (the zero State: from
// nothing), with now as the time every partition last received.
func New(cfg Config, st State, now time.Time) *Merger {
	m := &Merger{cfg: cfg, parts: make([]part, cfg.Partitions), last: st.Last, hasLast: st.HasLast}
	for i := range m.parts {
		p := &m.parts[i]
		p.next, p.end, p.recv = -1, -1, now
		if i < len(st.Parts) {
			s := st.Parts[i]
			p.next = s.Next
			p.prev, p.hasPrev = s.Prev, s.HasPrev
			p.cprev, p.hasCPrev = s.Prev, s.HasPrev
		}
	}
	return m
}

// Push queues e, read from e.Partition at time now, and returns its
// verdict: e.Verdict if Invalid, else the Merger's. A Duplicate is not
// queued.
func (m *Merger) Push(e Entry, now time.Time) Verdict {
	p := &m.parts[e.Partition]
	if p.next >= 0 && e.Offset < p.next {
		return Duplicate
	}
	switch {
	case e.Verdict == Invalid:
	case p.hasPrev && e.Key < p.prev:
		e.Verdict, e.Against = Unsorted, Pos{Key: p.prev, Partition: e.Partition}
	case m.hasLast && e.Less(m.last):
		e.Verdict, e.Against, p.prev, p.hasPrev = Late, m.last, e.Key, true
	default:
		e.Verdict, p.prev, p.hasPrev = OK, e.Key, true
	}
	p.compact()
	p.q = append(p.q, e)
	p.next, p.recv = e.Offset+1, now
	p.bytes += int64(e.Size)
	m.bytes += int64(e.Size)
	return e.Verdict
}

// Skip moves partition p's next offset up to next without a record: past
// a transaction marker, say.
func (m *Merger) Skip(p int32, next int64) {
	if pp := &m.parts[p]; next > pp.next {
		pp.next = next
	}
}

// SetEnd says partition p's end offset (what a reader can reach now).
func (m *Merger) SetEnd(p int32, end int64) { m.parts[p].end = end }

// Close says partition p delivers nothing more: it holds no record back.
func (m *Merger) Close(p int32) { m.parts[p].closed = true }

// Closed reports whether Close was called for p.
func (m *Merger) Closed(p int32) bool { return m.parts[p].closed }

// Next returns the next record to give out at time now: a rejection
// (Verdict Late, Unsorted or Invalid) at the head of a partition's queue, else the
// smallest head if it may go out (see the package doc). ok is false if
// nothing may go out now.
func (m *Merger) Next(now time.Time) (e Entry, ok bool) {
	best := int32(-1)
	for i := range m.parts {
		p := &m.parts[i]
		if p.h == len(p.q) {
			continue
		}
		if p.q[p.h].Verdict != OK {
			return m.pop(int32(i)), true
		}
		if best < 0 || p.q[p.h].Less(m.parts[best].q[m.parts[best].h].Pos) {
			best = int32(i)
		}
	}
	if best < 0 {
		return Entry{}, false
	}
	for i := range m.parts {
		if m.holdsBack(int32(i), now) {
			return Entry{}, false
		}
	}
	e = m.pop(best)
	m.last, m.hasLast = e.Pos, true
	return e, true
}

// holdsBack reports whether partition i may still deliver a record that
// sorts before the smallest head. A partition's previous key bounds
// nothing here: with its queue empty its last record has gone out (so
// sorts below the head) or was rejected.
func (m *Merger) holdsBack(i int32, now time.Time) bool {
	p := &m.parts[i]
	if p.h < len(p.q) || p.closed {
		return false
	}
	return !m.idle(p, now)
}

// idle reports whether p has read up to its end and received nothing for
// Config.Idle.
func (m *Merger) idle(p *part, now time.Time) bool {
	return m.cfg.Idle >= 0 && m.caughtUp(p) && now.Sub(p.recv) >= m.cfg.Idle
}

func (m *Merger) caughtUp(p *part) bool {
	if p.next < 0 {
		return m.cfg.UnknownAtEnd
	}
	return p.end >= 0 && p.next >= p.end
}

// compact moves the queued records to the front of p.q once at least
// half of it is records given out, so that a queue that never empties
// does not grow with everything that passed through it: amortized O(1) a
// record.
func (p *part) compact() {
	if p.h == 0 || p.h < len(p.q)/2 {
		return
	}
	n := copy(p.q, p.q[p.h:])
	clear(p.q[n:]) // the copies moved forward; release what they hold
	p.q, p.h = p.q[:n], 0
}

func (m *Merger) pop(i int32) Entry {
	p := &m.parts[i]
	e := p.q[p.h]
	p.q[p.h] = Entry{}
	p.h++
	if e.Verdict == OK || e.Verdict == Late {
		p.cprev, p.hasCPrev = e.Key, true
	}
	p.bytes -= int64(e.Size)
	m.bytes -= int64(e.Size)
	return e
}

// Waiting returns, appended to dst, the partitions the smallest head waits
// on at time now that have not read up to their end as last said: the
// caller should say their ends again (SetEnd). It returns dst if nothing
// is queued.
func (m *Merger) Waiting(dst []int32, now time.Time) []int32 {
	if m.empty() {
		return dst
	}
	for i := range m.parts {
		if m.holdsBack(int32(i), now) && !m.caughtUp(&m.parts[i]) {
			dst = append(dst, int32(i))
		}
	}
	return dst
}

// empty reports whether no partition holds a record.
func (m *Merger) empty() bool {
	for i := range m.parts {
		if m.parts[i].h < len(m.parts[i].q) {
			return false
		}
	}
	return true
}

// State is what a restart from the records not yet given out needs (see
// the package doc).
func (m *Merger) State() State {
	st := State{Parts: make([]PartState, len(m.parts)), Last: m.last, HasLast: m.hasLast}
	for i := range m.parts {
		p := &m.parts[i]
		next := p.next
		if p.h < len(p.q) {
			next = p.q[p.h].Offset
		}
		st.Parts[i] = PartState{Next: next, Prev: p.cprev, HasPrev: p.hasCPrev}
	}
	return st
}

// Position is partition p's next offset to read; -1 if not known.
func (m *Merger) Position(p int32) int64 { return m.parts[p].next }

// Queued is how many records partition p holds.
func (m *Merger) Queued(p int32) int { return len(m.parts[p].q) - m.parts[p].h }

// Bytes is the size of every record queued.
func (m *Merger) Bytes() int64 { return m.bytes }

// Pauses returns, appended to pause and resume, the partitions to pause
// and to resume now (see the package doc), and takes them as done.
func (m *Merger) Pauses(pause, resume []int32) ([]int32, []int32) {
	switch {
	case m.cfg.MaxBytes <= 0:
	case m.bytes >= m.cfg.MaxBytes:
		m.over = true
	case m.bytes < m.cfg.MaxBytes*3/4:
		m.over = false
	}
	for i := range m.parts {
		p := &m.parts[i]
		want := m.over && p.h < len(p.q)
		switch {
		case want && !p.paused:
			pause = append(pause, int32(i))
		case !want && p.paused:
			resume = append(resume, int32(i))
		}
		p.paused = want
	}
	return pause, resume
}
