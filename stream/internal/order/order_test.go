package order

import (
	"container/heap"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestMatchesReferenceMerge is the ordering core's model test. Random
// partitions, each mostly sorted by key (ties, unsorted records, gaps in
// time, partitions skewed against each other, some silent throughout),
// arrive over a simulated clock; a Merger with a random idle timeout (or
// none) and memory bound reads them, gives records out, commits at random
// and crashes at random (what was given out since the last commit is lost,
// and a new Merger resumes from the committed State, reading again from
// its offsets). Through it all the committed output:
//
//   - is the reference merge (a heap over the partitions by key,
//     partition, offset) of every record that is not invalid, unsorted or
//     late;
//   - rejects the records pushed as invalid as such, as unsorted exactly
//     the records below their partition's previous key, and as late only
//     records that sort below one given out, never with no idle timeout;
//   - holds every record once, given out or rejected;
//
// and queued bytes stay within the bound plus two fetches a partition.
// A failure prints rapid's seed; rerun it with -rapid.seed=N.
func TestMatchesReferenceMerge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := drawInput(t)
		sim := newSim(in)
		for sim.now < in.until {
			sim.read(t)
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0, 1, 2, 3, 4, 5:
				sim.drain()
			case 6, 7:
				sim.drain()
				sim.commit()
			case 8:
				sim.crash()
			}
			sim.pauses(t)
			sim.now += time.Duration(rapid.IntRange(1, 60).Draw(t, "ms")) * time.Millisecond
		}
		// Everything has arrived: close each partition once it has read
		// all (as -e does), and give out the rest.
		for !sim.allRead() {
			sim.read(t)
			sim.closeRead()
			sim.drain()
			sim.pauses(t)
		}
		sim.closeRead()
		sim.drain()
		sim.commit()
		sim.check(t)
	})
}

// rec is a record of the model input.
type rec struct {
	key    int64
	at     time.Duration // when it can be read
	size   int
	offset int64
	part   int32
	bad    bool // no key: pushed as Invalid
}

func (r rec) pos() Pos { return Pos{r.key, r.part, r.offset} }

type input struct {
	parts    [][]rec
	idle     time.Duration
	maxBytes int64
	until    time.Duration // after the last arrival
}

func drawInput(t *rapid.T) input {
	n := rapid.IntRange(1, 5).Draw(t, "partitions")
	in := input{parts: make([][]rec, n)}
	if rapid.Bool().Draw(t, "idle") {
		in.idle = time.Duration(rapid.IntRange(0, 300).Draw(t, "idle ms")) * time.Millisecond
	} else {
		in.idle = -1
	}
	in.maxBytes = int64(rapid.IntRange(0, 400).Draw(t, "max bytes"))
	for p := range in.parts {
		if rapid.IntRange(0, 5).Draw(t, "silent") == 0 {
			continue
		}
		key := int64(rapid.IntRange(-50, 50).Draw(t, "first key"))
		at := time.Duration(rapid.IntRange(0, 500).Draw(t, "skew ms")) * time.Millisecond
		count := rapid.IntRange(0, 40).Draw(t, "records")
		for i := range count {
			bad := false
			switch rapid.IntRange(0, 19).Draw(t, "shape") {
			case 19: // no key
				bad = true
			case 0: // unsorted
				key -= int64(rapid.IntRange(1, 20).Draw(t, "down"))
			case 1: // a gap in keys and time
				key += int64(rapid.IntRange(20, 200).Draw(t, "jump"))
				at += time.Duration(rapid.IntRange(200, 1500).Draw(t, "gap ms")) * time.Millisecond
			default:
				key += int64(rapid.IntRange(0, 3).Draw(t, "step"))
				at += time.Duration(rapid.IntRange(0, 30).Draw(t, "pace ms")) * time.Millisecond
			}
			in.parts[p] = append(in.parts[p], rec{key: key, at: at, size: rapid.IntRange(1, 40).Draw(t, "size"), offset: int64(i), part: int32(p), bad: bad})
			in.until = max(in.until, at)
		}
	}
	in.until += time.Millisecond
	return in
}

// sim runs a Merger over an input.
type sim struct {
	in    input
	cfg   Config
	m     *Merger
	now   time.Duration
	pos   []int64 // next offset to read per partition
	st    State   // as of the last commit
	out   []Entry // since the last commit
	done  []Entry // committed
	maxSz int
}

func newSim(in input) *sim {
	s := &sim{in: in, pos: make([]int64, len(in.parts))}
	s.cfg = Config{Partitions: int32(len(in.parts)), Idle: in.idle, MaxBytes: in.maxBytes}
	s.st = State{Parts: make([]PartState, len(in.parts))} // every partition starts at 0
	for _, p := range in.parts {
		for _, r := range p {
			s.maxSz = max(s.maxSz, r.size)
		}
	}
	s.m = New(s.cfg, s.st, s.clock())
	return s
}

func (s *sim) clock() time.Time { return time.Unix(0, 0).Add(s.now) }

// maxFetch is the most records a read takes from a partition.
const maxFetch = 8

// read pushes up to a drawn number of the records that have arrived in
// each partition not paused, and says each partition's end.
func (s *sim) read(t *rapid.T) {
	for p, recs := range s.in.parts {
		end := int64(0)
		for end < int64(len(recs)) && recs[end].at <= s.now {
			end++
		}
		if !s.m.parts[p].paused {
			for n := rapid.IntRange(1, maxFetch).Draw(t, "fetch"); n > 0 && s.pos[p] < end; n-- {
				r := recs[s.pos[p]]
				e := Entry{Pos: r.pos(), Size: r.size}
				if r.bad {
					e.Verdict = Invalid
				}
				s.m.Push(e, s.clock())
				s.pos[p]++
			}
		}
		s.m.SetEnd(int32(p), end)
	}
	if bound := s.in.maxBytes + int64(2*len(s.in.parts)*maxFetch*s.maxSz); s.in.maxBytes > 0 && s.m.Bytes() > bound {
		t.Fatalf("%d bytes queued, over the bound %d plus two fetches a partition", s.m.Bytes(), s.in.maxBytes)
	}
}

func (s *sim) allRead() bool {
	for p, recs := range s.in.parts {
		if s.pos[p] < int64(len(recs)) {
			return false
		}
	}
	return true
}

// closeRead closes the partitions that have read all they hold.
func (s *sim) closeRead() {
	for p, recs := range s.in.parts {
		if s.pos[p] == int64(len(recs)) {
			s.m.Close(int32(p))
		}
	}
}

func (s *sim) drain() {
	for {
		e, ok := s.m.Next(s.clock())
		if !ok {
			return
		}
		s.out = append(s.out, e)
	}
}

func (s *sim) commit() {
	s.done = append(s.done, s.out...)
	s.out = s.out[:0]
	s.st = s.m.State()
}

func (s *sim) crash() {
	s.out = s.out[:0]
	s.m = New(s.cfg, s.st, s.clock())
	for p := range s.pos {
		s.pos[p] = s.st.Parts[p].Next
	}
}

func (s *sim) pauses(t *rapid.T) {
	pause, resume := s.m.Pauses(nil, nil)
	for _, p := range pause {
		if s.m.Queued(p) == 0 {
			t.Fatalf("partition %d paused with nothing queued: the stream may wait on it", p)
		}
	}
	_ = resume
}

func (s *sim) check(t *rapid.T) {
	// The reference: unsorted records from each partition on its own,
	// then a heap merge of the rest less those the run found late.
	unsorted := map[Pos]bool{}
	for _, recs := range s.in.parts {
		var prev int64
		has := false
		for _, r := range recs {
			if r.bad {
				continue
			}
			if has && r.key < prev {
				unsorted[r.pos()] = true
				continue
			}
			prev, has = r.key, true
		}
	}
	seen := map[Pos]Verdict{}
	var emitted []Pos
	var maxOut Pos
	hasOut := false
	for _, e := range s.done {
		if v, dup := seen[e.Pos]; dup {
			t.Fatalf("%v committed twice (%v, then %v)", e.Pos, v, e.Verdict)
		}
		seen[e.Pos] = e.Verdict
		switch e.Verdict {
		case OK:
			emitted = append(emitted, e.Pos)
			if !hasOut || maxOut.Less(e.Pos) {
				maxOut, hasOut = e.Pos, true
			}
		case Unsorted:
			if !unsorted[e.Pos] {
				t.Fatalf("%v rejected as unsorted, but its partition is sorted up to it", e.Pos)
			}
		case Invalid:
			if !s.in.parts[e.Partition][e.Offset].bad {
				t.Fatalf("%v rejected as invalid, but it was pushed with a key", e.Pos)
			}
		case Late:
			if s.in.idle < 0 {
				t.Fatalf("%v rejected as late with no idle timeout", e.Pos)
			}
		default:
			t.Fatalf("%v committed with verdict %v", e.Pos, e.Verdict)
		}
	}
	for _, e := range s.done {
		if e.Verdict == Late && !(hasOut && e.Less(maxOut)) {
			t.Fatalf("%v rejected as late, but nothing after it was given out", e.Pos)
		}
	}
	var lanes [][]Pos
	for _, recs := range s.in.parts {
		var lane []Pos
		for _, r := range recs {
			v, ok := seen[r.pos()]
			if !ok {
				t.Fatalf("%v was neither given out nor rejected", r.pos())
			}
			if r.bad && v != Invalid {
				t.Fatalf("%v was pushed as invalid, but its verdict is %v", r.pos(), v)
			}
			if unsorted[r.pos()] && v != Unsorted {
				t.Fatalf("%v is unsorted, but its verdict is %v", r.pos(), v)
			}
			if v == OK {
				lane = append(lane, r.pos())
			}
		}
		lanes = append(lanes, lane)
	}
	if want := heapMerge(lanes); !slices.Equal(emitted, want) {
		t.Fatalf("given out:\n%v\nthe reference merge:\n%v", emitted, want)
	}
}

// heapMerge merges sorted lanes with a heap over their heads.
func heapMerge(lanes [][]Pos) []Pos {
	h := &heads{}
	for _, l := range lanes {
		if len(l) > 0 {
			*h = append(*h, l)
		}
	}
	heap.Init(h)
	var out []Pos
	for h.Len() > 0 {
		l := (*h)[0]
		out = append(out, l[0])
		if len(l) == 1 {
			heap.Pop(h)
		} else {
			(*h)[0] = l[1:]
			heap.Fix(h, 0)
		}
	}
	return out
}

type heads [][]Pos

func (h heads) Len() int           { return len(h) }
func (h heads) Less(i, j int) bool { return h[i][0].Less(h[j][0]) }
func (h heads) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heads) Push(x any)        { *h = append(*h, x.([]Pos)) }
func (h *heads) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
