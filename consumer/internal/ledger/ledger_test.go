package ledger

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/segmerge/segmerge/assemble"
)

// TestExactlyOnceUnderAbortsAndCrashes is the offsets core's model test. A
// consumer reads a random topic (batches in the segment or the batch
// layout, some missing a segment, some records sent twice, some bad, some
// batches replayed whole later on), releases and writes batches, syncs and
// commits, with transactions that abort and a process that crashes, at
// random. Through it all:
//
//   - a commit offset never passes a record whose batch is not durable or
//     whose dead letter is not in the commit;
//   - the committed output of a transactional sink, and the lines of a file
//     that resumes after its last batch, hold every complete batch exactly
//     once, in ascending order (per partition in the batch layout, where a
//     file is at least once: it cannot skip by id);
//   - the committed dead letters hold every bad record and every record of
//     an incomplete batch, each exactly once, and no first copy of a
//     record of a complete batch.
//
// A failure prints rapid's seed; rerun it with -rapid.seed=N (and
// -rapid.checks to widen the search).
func TestExactlyOnceUnderAbortsAndCrashes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newModel(t)
		for step := 0; step < 200 && !m.finished(); step++ {
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0, 1, 2, 3, 4:
				m.read(rapid.IntRange(0, m.parts-1).Draw(t, "partition"), rapid.IntRange(1, 4).Draw(t, "records"))
			case 5, 6:
				m.release()
			case 7:
				m.commit(rapid.Bool().Draw(t, "abort"))
			case 8:
				m.release()
				m.commit(false)
			case 9:
				m.crash(rapid.IntRange(0, 3).Draw(t, "lost lines"))
			}
		}
		m.drain()
		m.check()
	})
}

// rec is one record of the model topic.
type rec struct {
	batch, seg int64
	bad        bool // not decodable: a dead letter whatever happens
	copy       bool // a second copy (a retry, or a replay of the batch)
}

// where is a record's place in the topic.
type where struct {
	p   int32
	off int64
}

type model struct {
	t       *rapid.T
	parts   int
	segs    int64
	batchL  bool    // the batch layout
	log     [][]rec // per partition, in offset order
	compl   []int64 // ids of the batches written whole, ascending
	incompl []int64 // ids of the batches missing a segment

	// What survives a crash: the group's commits, the committed
	// transactional output and dead letters, and the file.
	commits    map[int32]Mark
	txnOut     []int64
	txnDead    []where
	file       []int64
	fileSynced int // lines of file durable at the last sync

	// One run of the consumer.
	led     *Ledger
	pos     []int64 // read position per partition
	pending []int64 // batches written in the open transaction
	dropped []int64 // batches dead-lettered in the open transaction
	dead    []where // dead letters in the open transaction
	skip    int64   // the file skips batches up to this id when they come again
}

func newModel(t *rapid.T) *model {
	m := &model{
		t:       t,
		parts:   rapid.IntRange(1, 4).Draw(t, "parts"),
		segs:    int64(rapid.IntRange(1, 4).Draw(t, "segments")),
		batchL:  rapid.Bool().Draw(t, "batch layout"),
		commits: map[int32]Mark{},
	}
	m.log = make([][]rec, m.parts)
	n := rapid.IntRange(1, 25).Draw(t, "batches")
	var replays []int64
	for b := range int64(n) + int64(m.parts) + 1 {
		// The last P+1 batches are whole, so that every batch before
		// them becomes final.
		missing := int64(-1)
		if b < int64(n) && m.segs > 1 && rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("b%d whole", b)) == 0 {
			missing = rapid.Int64Range(0, m.segs-1).Draw(t, fmt.Sprintf("b%d missing", b))
		}
		if missing >= 0 {
			m.incompl = append(m.incompl, b)
		} else {
			m.compl = append(m.compl, b)
			if b < int64(n) && rapid.IntRange(0, 9).Draw(t, fmt.Sprintf("b%d replayed", b)) == 0 {
				replays = append(replays, b)
			}
		}
		for s := range m.segs {
			if s != missing {
				m.write(b, s, false)
			}
		}
		if rapid.IntRange(0, 7).Draw(t, fmt.Sprintf("bad after b%d", b)) == 0 {
			p := rapid.IntRange(0, m.parts-1).Draw(t, "bad partition")
			m.log[p] = append(m.log[p], rec{bad: true})
		}
		if b >= int64(n) { // replays come among the tail's batches
			for _, id := range replays {
				for s := range m.segs {
					m.write(id, s, true)
				}
			}
			replays = nil
		}
	}
	m.start()
	return m
}

// write appends segment s of batch b to its partition, and maybe a retry.
func (m *model) write(b, s int64, copy bool) {
	p := int(s) % m.parts
	if m.batchL {
		p = int(b) % m.parts
	}
	m.log[p] = append(m.log[p], rec{batch: b, seg: s, copy: copy})
	if !copy && rapid.IntRange(0, 9).Draw(m.t, fmt.Sprintf("b%ds%d retried", b, s)) == 0 {
		m.log[p] = append(m.log[p], rec{batch: b, seg: s, copy: true})
	}
}

// start begins a run of the consumer at the group's commits, as a
// restarted process does.
func (m *model) start() {
	cfg := assemble.Config{Segments: m.segs, Partitions: int32(m.parts), Whole: true}
	newAsm := func() Assembler { return assemble.New(cfg) }
	if m.batchL {
		newAsm = func() Assembler { return assemble.NewLanes(cfg) }
	}
	m.led = New(newAsm)
	m.pos = make([]int64, m.parts)
	starts := map[int32]assemble.Start{}
	for p := range m.parts {
		c, ok := m.commits[int32(p)]
		m.pos[p] = c.Offset
		starts[int32(p)] = assemble.Start{Next: c.Offset, CaughtUp: c.Offset >= int64(len(m.log[p])), Floor: c.Floor, HasFloor: ok}
	}
	m.led.Assign(starts)
	m.pending, m.dropped, m.dead = nil, nil, nil
	m.skip = -1
	if len(m.file) > 0 && !m.batchL {
		m.skip = m.file[len(m.file)-1] // sink.Open resumes after the last line
	}
}

// read adds up to n records of partition p; bad and refused ones become
// dead letters.
func (m *model) read(p, n int) {
	for ; n > 0 && m.pos[p] < int64(len(m.log[p])); n-- {
		off := m.pos[p]
		r := m.log[p][off]
		m.pos[p]++
		if r.bad {
			m.led.Dead(int32(p), off, 1, where{int32(p), off})
			continue
		}
		v, err := m.led.Asm().Add(&assemble.Record{Partition: int32(p), Offset: off, BatchID: r.batch, SegmentID: r.seg, Last: true, Data: []int64{r.batch}, Ref: where{int32(p), off}})
		if v == assemble.Rejected {
			if !r.copy {
				m.t.Fatalf("p%d@%d batch %d segment %d, a first copy, refused: %v", p, off, r.batch, r.seg, err)
			}
			m.led.Dead(int32(p), off, 1, where{int32(p), off})
		}
	}
	m.led.Read(int32(p), m.pos[p], int64(len(m.log[p])), m.pos[p] >= int64(len(m.log[p])))
}

// release writes what the assembler releases: complete batches to the
// transaction and the file (which skips what it holds), incomplete ones to
// the dead letters.
func (m *model) release() {
	asm := m.led.Asm()
	for b := asm.Next(); b != nil; b = asm.Next() {
		switch {
		case b.Cut:
			// Only the batch layout's lanes start Fresh above offset
			// 0, and only without a floor: before the first commit.
			m.t.Fatalf("batch %d cut as begun before the start", b.ID)
		case !b.Complete():
			m.dropped = append(m.dropped, b.ID)
			for _, r := range b.Records() {
				w := r.Ref.(where) // lanes set Partition to the lane
				m.led.Dead(w.p, w.off, 1, w)
			}
			asm.Merged(b)
			m.led.Dropped(b)
		default:
			m.pending = append(m.pending, b.ID)
			if b.ID > m.skip || m.batchL { // the batch layout's file writes all
				m.file = append(m.file, b.ID)
			}
			asm.Merged(b)
			m.led.Wrote(b)
		}
	}
}

// commit syncs what was written and ends the transaction: committed, or
// aborted and rolled back to the last commit.
func (m *model) commit(abort bool) {
	m.led.Durable()
	m.fileSynced = len(m.file)
	marks := m.led.Commits(nil)
	m.led.TakeDead(marks, func(item any) { m.dead = append(m.dead, item.(where)) })
	m.checkCommits(marks)
	if !m.led.Dirty() && m.led.Unchanged(marks) {
		// The consumer skips such a commit: it must hold nothing that
		// only a commit would make visible.
		if len(m.pending)+len(m.dead) > 0 {
			m.t.Fatalf("a commit that changes no offset skipped %d output batches and %d dead letters", len(m.pending), len(m.dead))
		}
		return
	}
	if abort {
		m.pending, m.dropped, m.dead = nil, nil, nil
		m.skip = max(m.skip, m.led.Rollback()) // sink.Writer.SkipThrough
		for p := range m.parts {
			m.pos[p], _ = m.led.Next(int32(p))
		}
		return
	}
	for p, mk := range marks {
		m.commits[p] = mk
	}
	m.txnOut = append(m.txnOut, m.pending...)
	m.txnDead = append(m.txnDead, m.dead...)
	m.pending, m.dropped, m.dead = nil, nil, nil
	m.led.Committed(marks)
}

// checkCommits fails if a mark passes a record that is not done: neither
// of a batch committed or durable now, nor dead-lettered in the commit.
func (m *model) checkCommits(marks map[int32]Mark) {
	done := map[int64]bool{}
	for _, id := range slices.Concat(m.txnOut, m.pending, m.dropped) {
		done[id] = true
	}
	dead := map[where]bool{}
	for _, w := range slices.Concat(m.txnDead, m.dead) {
		dead[w] = true
	}
	for p, mk := range marks {
		for off := m.commits[p].Offset; off < mk.Offset; off++ {
			r := m.log[p][off]
			if !dead[where{p, off}] && (r.bad || !done[r.batch] && !r.copy) {
				m.t.Fatalf("commit offset %d of partition %d passes p%d@%d (batch %d), which is not done", mk.Offset, p, p, off, r.batch)
			}
		}
	}
}

// crash ends the run without a commit: the open transaction is aborted,
// and the file loses up to lost lines written since its last sync.
func (m *model) crash(lost int) {
	keep := max(m.fileSynced, len(m.file)-lost)
	m.file = m.file[:keep]
	m.start()
}

func (m *model) finished() bool {
	for p := range m.parts {
		if m.commits[int32(p)].Offset < int64(len(m.log[p])) {
			return false
		}
	}
	return true
}

// drain runs the consumer to the end with no more faults.
func (m *model) drain() {
	for range 1000 {
		if m.finished() {
			return
		}
		for p := range m.parts {
			m.read(p, len(m.log[p]))
		}
		m.release()
		m.commit(false)
	}
	m.t.Fatalf("never finished: commits %v, %d batches pending", m.commits, m.led.Asm().Pending())
}

func (m *model) check() {
	for name, got := range map[string][]int64{"committed output": m.txnOut, "file": m.file} {
		if m.batchL && name == "file" {
			got = slices.Compact(slices.Sorted(slices.Values(got)))
		}
		if m.batchL {
			// Ascending per partition only: check each partition's
			// order, then compare as sets.
			byPart := map[int64][]int64{}
			for _, id := range got {
				byPart[id%int64(m.parts)] = append(byPart[id%int64(m.parts)], id)
			}
			for p, ids := range byPart {
				if !slices.IsSorted(ids) {
					m.t.Fatalf("%s: partition %d's batches out of order: %v", name, p, ids)
				}
			}
			got = slices.Sorted(slices.Values(got))
		}
		if !slices.Equal(got, m.compl) {
			m.t.Fatalf("%s holds %v, want every complete batch once: %v", name, got, m.compl)
		}
	}
	seen := map[where]int{}
	for _, w := range m.txnDead {
		if seen[w]++; seen[w] > 1 {
			m.t.Fatalf("p%d@%d dead-lettered twice", w.p, w.off)
		}
		if r := m.log[w.p][w.off]; !r.bad && !r.copy && !slices.Contains(m.incompl, r.batch) {
			m.t.Fatalf("p%d@%d, the first copy of a record of complete batch %d, dead-lettered", w.p, w.off, r.batch)
		}
	}
	for p, rs := range m.log {
		for off, r := range rs {
			w := where{int32(p), int64(off)}
			if (r.bad || !r.copy && slices.Contains(m.incompl, r.batch)) && seen[w] == 0 {
				m.t.Fatalf("p%d@%d (bad %v, batch %d) never dead-lettered", p, off, r.bad, r.batch)
			}
		}
	}
}

func TestUnchanged(t *testing.T) {
	l := New(func() Assembler { return assemble.New(assemble.Config{Segments: 1, Partitions: 3, Whole: true}) })
	l.Assign(map[int32]assemble.Start{0: {Next: 5, Floor: 2, HasFloor: true}, 1: {Next: 0, Fresh: true}})
	for _, tc := range []struct {
		name  string
		marks map[int32]Mark
		want  bool
	}{
		{"at the last commit", map[int32]Mark{0: {5, 2}}, true},
		{"offset moved", map[int32]Mark{0: {6, 2}}, false},
		{"floor moved", map[int32]Mark{0: {5, 3}}, false},
		{"never committed", map[int32]Mark{1: {0, 0}}, false},
		{"not assigned", map[int32]Mark{2: {0, 0}}, false},
	} {
		if got := l.Unchanged(tc.marks); got != tc.want {
			t.Errorf("%s: Unchanged = %v, want %v", tc.name, got, tc.want)
		}
	}
	l.Committed(map[int32]Mark{1: {0, 0}})
	if !l.Unchanged(map[int32]Mark{0: {5, 2}, 1: {0, 0}}) {
		t.Error("after its first commit, a partition at that commit changed")
	}
}
