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
// layout, some missing a segment), releases and
// writes batches, syncs and commits, with transactions that abort and a
// process that crashes, at random. Through it all:
//
//   - a commit offset never passes a record whose batch is not durable;
//   - the committed output of a transactional sink, and the lines of a file
//     that resumes after its last batch, hold every complete batch exactly
//     once, in ascending order (per partition in the batch layout, where a
//     file is at least once: it cannot skip by id), and the committed dead
//     letters every incomplete batch exactly once.
//
// A failure prints rapid's seed; rerun it with -rapid.seed=N (and
// -rapid.checks, -rapid.steps to widen the search).
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
	data       []int64
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
	commits    map[int32]int64
	txnOut     []int64
	txnDead    []int64
	file       []int64
	fileSynced int // lines of file durable at the last sync

	// One run of the consumer.
	led     *Ledger
	pos     []int64 // read position per partition
	pending []int64 // batches written in the open transaction
	dead    []int64 // batches dead-lettered in the open transaction
	durable map[int64]bool
	skip    int64 // the file skips batches up to this id when they come again
}

func newModel(t *rapid.T) *model {
	m := &model{
		t:       t,
		parts:   rapid.IntRange(1, 4).Draw(t, "parts"),
		segs:    int64(rapid.IntRange(1, 4).Draw(t, "segments")),
		batchL:  rapid.Bool().Draw(t, "batch layout"),
		commits: map[int32]int64{},
	}
	m.log = make([][]rec, m.parts)
	n := rapid.IntRange(1, 25).Draw(t, "batches")
	for b := range int64(n) + int64(m.parts) + 1 {
		// The last P+1 batches are whole, so that every batch before
		// them becomes final.
		missing := int64(-1)
		if b < int64(n) && m.segs > 1 && !m.batchL && rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("b%d whole", b)) == 0 {
			missing = rapid.Int64Range(0, m.segs-1).Draw(t, fmt.Sprintf("b%d missing", b))
		}
		if missing >= 0 {
			m.incompl = append(m.incompl, b)
		} else {
			m.compl = append(m.compl, b)
		}
		for s := range m.segs {
			if s == missing {
				continue
			}
			p := int(s) % m.parts
			if m.batchL {
				p = int(b) % m.parts
			}
			r := rec{batch: b, seg: s, data: []int64{b, s}}
			m.log[p] = append(m.log[p], r)
		}
	}
	m.start()
	return m
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
		off := m.commits[int32(p)]
		m.pos[p] = off
		starts[int32(p)] = assemble.Start{Next: off, CaughtUp: off >= int64(len(m.log[p]))}
	}
	m.led.Assign(starts)
	m.pending, m.dead, m.durable = nil, nil, map[int64]bool{}
	m.skip = -1
	if len(m.file) > 0 && !m.batchL {
		m.skip = m.file[len(m.file)-1] // sink.Open resumes after the last line
	}
}

// read adds up to n records of partition p.
func (m *model) read(p, n int) {
	for ; n > 0 && m.pos[p] < int64(len(m.log[p])); n-- {
		r := m.log[p][m.pos[p]]
		v, err := m.led.Asm().Add(&assemble.Record{Partition: int32(p), Offset: m.pos[p], BatchID: r.batch, SegmentID: r.seg, Last: true, Data: r.data})
		if v == assemble.Rejected {
			m.t.Fatalf("p%d@%d batch %d segment %d refused: %v", p, m.pos[p], r.batch, r.seg, err)
		}
		m.pos[p]++
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
			// Records below a commit belong to batches a committed
			// transaction wrote or dead-lettered; only the batch
			// layout's lanes start Fresh above offset 0.
			if !m.batchL || !slices.Contains(m.txnOut, b.ID) && !slices.Contains(m.txnDead, b.ID) {
				m.t.Fatalf("batch %d cut as begun before the start, but no committed transaction holds it", b.ID)
			}
			asm.Merged(b)
			m.led.Skipped(b)
		case !b.Complete():
			m.dead = append(m.dead, b.ID)
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
	offs := m.led.Commits(nil)
	m.checkCommits(offs)
	if abort {
		m.pending, m.dead = nil, nil
		m.skip = max(m.skip, m.led.Rollback()) // sink.Writer.SkipThrough
		for p := range m.parts {
			m.pos[p], _ = m.led.Next(int32(p))
		}
		return
	}
	for p, o := range offs {
		m.commits[p] = o
	}
	m.txnOut = append(m.txnOut, m.pending...)
	m.txnDead = append(m.txnDead, m.dead...)
	m.pending, m.dead = nil, nil
	m.led.Committed(offs)
}

// checkCommits fails if an offset in offs passes a record of a batch that
// is neither committed already nor durable now.
func (m *model) checkCommits(offs map[int32]int64) {
	done := map[int64]bool{}
	for _, id := range slices.Concat(m.txnOut, m.txnDead, m.pending, m.dead) {
		done[id] = true
	}
	for p, o := range offs {
		for off := m.commits[p]; off < o; off++ {
			if r := m.log[p][off]; !done[r.batch] {
				m.t.Fatalf("commit offset %d of partition %d passes p%d@%d of batch %d, which is not durable", o, p, p, off, r.batch)
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
		if m.commits[int32(p)] < int64(len(m.log[p])) {
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
	want := slices.Clone(m.compl)
	for name, got := range map[string][]int64{"committed output": m.txnOut, "file": m.file} {
		if m.batchL && name == "file" {
			got = slices.Compact(slices.Sorted(slices.Values(got)))
		}
		if m.batchL {
			// Ascending per partition only: compare as sets, and check
			// each partition's order.
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
		if !slices.Equal(got, want) {
			m.t.Fatalf("%s holds %v, want every complete batch once: %v", name, got, want)
		}
	}
	dead := slices.Sorted(slices.Values(m.txnDead))
	if !slices.Equal(dead, m.incompl) {
		m.t.Fatalf("committed dead letters hold %v, want every incomplete batch once: %v", dead, m.incompl)
	}
}
