package merge

import (
	"io"
	"math"
	"math/bits"
)

// Merger merges the ascending runs of k sources into one ascending run.
//
// # The loser tree
//
// The sources are the leaves of a tournament tree. Each internal node keeps
// the loser of the match played there, and one extra slot keeps the overall
// winner: the smallest head among the sources. The tree is a flat slice of k
// nodes, leaf i sits at position k+i and node p's parent is p/2, so there is
// no pointer chasing and k need not be a power of two. Taking a value from the
// winner changes only the winner's head, so only the matches on the path from
// the winner's leaf to the root are replayed: about log2(k) comparisons per
// value, each against the loser stored at one node, with no siblings to look
// at (a binary heap compares both children at every level). A match is played
// without a branch, since on merged data its outcome is a coin toss that a
// branch predictor would miss half the time.
//
// A node holds a key (the head value) and an id (the source index), and nodes
// are ordered by the pair. The id breaks ties between equal heads, so the
// merge is deterministic: the same input always takes the same path.
//
// # Exhaustion without sentinels
//
// Values span the whole int64 range, so no key can mean "empty", and the
// Merger never uses one. An exhausted source's node has the exhausted bit set
// in its id, which is what Read tests; its key is set to the largest key so
// that, by the pair ordering, the node sorts after every live node, including
// a live one whose head is math.MaxInt64 (same key, smaller id). The merge is
// over when the winner's node carries the exhausted bit.
//
// # Streaks
//
// When one source keeps winning (runs that do not overlap, or long stretches
// of one run between values of the others) replaying after every value is
// wasted work. Once a source has won several replays in a row, Read finds the
// best loser, the smallest loser on the winner's path, and copies every value
// of the winner's chunk up to that loser's head as one block, its end found
// by galloping, then replays once. On random data the winner rarely repeats
// often enough to trigger this, so the check costs next to nothing there.
//
// # Chunk refill
//
// Each source's current chunk is used in place: values are copied from it
// straight into the caller's buffer. When the winner's chunk is used up the
// Merger calls its Next, checks that the new chunk starts at or above the
// last value of the previous one, and replays the path with the new head.
// Within a chunk, order is the source's promise and is not checked: checking
// would cost a comparison per value on the hot path, and the caller has
// already validated it. Empty chunks are skipped. The first chunk of every
// source is pulled on the first Read, since the tree needs every head before
// it can name a winner.
//
// # Sources that are not ready
//
// A source fed from the network may have no next chunk yet. It says so with
// [ErrWait]; Read then returns what it has merged so far, or (0, ErrWait)
// when it could merge nothing, and keeps its place: the source's refill (or,
// before the first value, the rest of the first pulls) is retried on the
// next Read. ErrWait is not an error of the merge and is never sticky. The
// caller waits for the data to arrive (a consumer polls again) and reads on.
//
// # Errors
//
// Errors are sticky. The first source error other than io.EOF, or the first
// chunk that goes backwards ([ErrUnsorted]), is wrapped in a [*SourceError]
// naming the source, and from then on Read returns it, Err reports it and
// Close returns it. io.EOF is not an error: Read returns it once all sources
// are exhausted, and Err stays nil.
//
// # Costs
//
// O(log k) comparisons per value (a streak of s values taken as a block costs
// O(log k + log s) comparisons and one copy), one call to Next per chunk, and
// O(k) memory besides the chunks the sources hold. Read does not allocate,
// and Reset does not when k does not grow. A Merger is not safe for
// concurrent use and starts no goroutines.
type Merger struct {
	srcs []Source
	runs []run  // runs[i] is the state of srcs[i]
	tree []node // tree[0] is the winner, tree[1:] the losers; len k

	started  bool  // the first chunk of every source has been pulled
	starting int   // sources below this have their first chunk (while !started)
	waiting  int   // 1 + the source whose refill said ErrWait; 0 for none
	closed   bool  // Close was called
	err      error // first merge error, never io.EOF; sticky
	errC     error // first error from a source's Close
}

// run is the Merger's view of one source.
type run struct {
	buf     []int64 // the current chunk, as the source returned it
	pos     int     // buf[pos] is the head; buf[:pos] are taken
	last    int64   // last value of the latest non-empty chunk
	started bool    // a non-empty chunk has been seen, so last is valid
	eof     bool    // Next returned io.EOF; do not call it again
}

// node is one slot of the loser tree: a source's head and its index.
type node struct {
	key uint64 // head value, flipped; math.MaxUint64 once exhausted
	id  uint64 // source index, with exhausted set once the source is done
}

// exhausted is the bit of node.id that marks a source with no values left.
const exhausted = 1 << 63

// flip maps int64 order onto uint64 order: flipping the sign bit sends
// math.MinInt64 to 0 and math.MaxInt64 to math.MaxUint64.
func flip(v int64) uint64 { return uint64(v) ^ 1<<63 }

// less orders nodes by (key, id) as one 128-bit unsigned comparison: the
// borrow out of key:id - b.key:b.id. The id makes the order total, and the
// exhausted bit puts a finished source after every live one. It compiles to a
// subtract and a subtract-with-borrow, with no branch to mispredict.
func (a node) less(b node) bool {
	_, borrow := bits.Sub64(a.id, b.id, 0)
	_, borrow = bits.Sub64(a.key, b.key, borrow)
	return borrow != 0
}

// New returns a Merger over srcs. It does not call the sources; the first
// [Merger.Read] pulls the first chunk of each. With no sources the merged run
// is empty.
func New(srcs ...Source) *Merger {
	m := new(Merger)
	m.Reset(srcs...)
	return m
}

// Reset discards the Merger's state and makes it merge srcs, as if newly made
// by [New]. It allocates only when len(srcs) is larger than any k the Merger
// has had before. It does not close the previous sources; call
// [Merger.Close] first if they need closing.
func (m *Merger) Reset(srcs ...Source) {
	k := len(srcs)
	clear(m.srcs[:cap(m.srcs)]) // drop old sources beyond the new k too
	m.srcs = append(m.srcs[:0], srcs...)
	if cap(m.runs) < k {
		m.runs = make([]run, k)
		m.tree = make([]node, k)
	}
	m.runs = m.runs[:k]
	clear(m.runs[:cap(m.runs)])
	m.tree = m.tree[:k]
	m.started, m.closed, m.err, m.errC = false, false, nil, nil
	m.starting, m.waiting = 0, 0
}

// Read fills dst with the next values of the merged run, in ascending order,
// and returns how many it wrote. It returns (n > 0, nil) while values remain,
// even if it had to stop early because a source failed; the failure is then
// returned by the next call, with n == 0. So n > 0 and a non-nil error never
// come together. Once every source is exhausted Read returns (0, io.EOF),
// whatever len(dst); before that, an empty dst gets (0, nil). Errors are
// sticky. After [Merger.Close], Read returns the merge error if there was
// one, or [ErrClosed].
//
// Read calls a source's Next only when it has taken every value of that
// source's current chunk. It does not allocate.
func (m *Merger) Read(dst []int64) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if m.closed {
		return 0, ErrClosed
	}
	if !m.started && !m.start() {
		return 0, m.stopped()
	}
	if m.waiting > 0 {
		w := m.waiting - 1
		m.waiting = 0
		if !m.refill(w) {
			return 0, m.stopped()
		}
		replay(m.tree, w, m.leaf(w))
	}
	if len(m.tree) == 0 || m.tree[0].id&exhausted != 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(dst) {
		c, w, why := m.take(dst[n:])
		n += c
		if why == chunkEnd {
			if !m.refill(w) {
				break
			}
		} else if why == onStreak && n < len(dst) {
			// w keeps winning, so it may be on a long streak: take every
			// value up to the best loser's head at once.
			r := &m.runs[w]
			c := m.streak(w, r.buf[r.pos:min(len(r.buf), r.pos+len(dst)-n)])
			copy(dst[n:], r.buf[r.pos:r.pos+c])
			n += c
			r.pos += c
			if r.pos == len(r.buf) && !m.refill(w) {
				break
			}
		} else {
			break // full or ended
		}
		replay(m.tree, w, m.leaf(w))
	}
	if n == 0 && (m.err != nil || m.waiting > 0) {
		return 0, m.stopped()
	}
	return n, nil
}

// stopped is why Read could not go on: the sticky error, else ErrWait.
func (m *Merger) stopped() error {
	if m.err != nil {
		return m.err
	}
	return ErrWait
}

// Err returns the first error the merge met, or nil. It never returns io.EOF.
func (m *Merger) Err() error { return m.err }

// Close closes every source that implements io.Closer, in index order, each
// once, and drops the Merger's references to the sources and their chunks.
// It returns the merge error if there was one, and otherwise the first error
// returned by a source's Close, wrapped in a [*SourceError]. Calling Close
// again does nothing and returns the same error.
func (m *Merger) Close() error {
	if !m.closed {
		m.closed = true
		for i, s := range m.srcs {
			c, ok := s.(io.Closer)
			if !ok {
				continue
			}
			if err := c.Close(); err != nil && m.errC == nil {
				m.errC = &SourceError{Source: i, Err: err}
			}
		}
		clear(m.srcs)
		clear(m.runs)
	}
	if m.err != nil {
		return m.err
	}
	return m.errC
}

// start pulls the first chunk of every source and builds the tree. It
// reports false, with m.err set, if a source failed.
func (m *Merger) start() bool {
	for ; m.starting < len(m.runs); m.starting++ {
		if !m.refill(m.starting) {
			m.waiting = 0 // start retries this source itself
			return false
		}
	}
	m.started = true
	switch k := len(m.tree); k {
	case 0:
	case 1:
		m.tree[0] = m.leaf(0)
	default:
		m.tree[0] = m.build(1)
	}
	return true
}

// build plays the matches of the subtree rooted at p, stores each match's
// loser and returns the subtree's winner. Its depth is log2(k).
func (m *Merger) build(p int) node {
	k := len(m.tree)
	if p >= k {
		return m.leaf(p - k)
	}
	a, b := m.build(2*p), m.build(2*p+1)
	if b.less(a) {
		a, b = b, a
	}
	m.tree[p] = b
	return a
}

// Reasons for take to stop.
const (
	full     = iota // dst is full
	ended           // every source is exhausted
	chunkEnd        // the last value of source w's chunk was taken; refill, then replay
	onStreak        // source w won streakAfter replays in a row and is the winner
)

// take is Read's inner loop: it copies winners into dst one value at a time,
// replaying after each, until dst is full, the merge has ended, or Read must
// step in because the winner's chunk ran out or the winner is on a streak. It
// returns how many values it wrote, and why it stopped and for which source.
// It makes no calls (replay is inlined), so the loop keeps its state in
// registers; the rare work is left to Read.
func (m *Merger) take(dst []int64) (n, w, why int) {
	t, runs := m.tree, m.runs
	top := t[0]
	wins := 0
	for n < len(dst) {
		if top.id&exhausted != 0 {
			return n, 0, ended
		}
		w = int(top.id)
		r := &runs[w]
		i := r.pos
		dst[n] = r.buf[i]
		n++
		i++
		r.pos = i
		if i == len(r.buf) {
			return n, w, chunkEnd
		}
		next := replay(t, w, node{key: flip(r.buf[i]), id: uint64(w)})
		wins++
		if next.id != top.id {
			wins = 0
		}
		top = next
		if wins >= streakAfter {
			return n, w, onStreak
		}
	}
	return n, 0, full
}

// streakAfter is how many replays in a row a source must win before Read
// looks for a streak. On random data the winner changes at almost every value,
// and looking at every repeat win costs more in mispredicted branches than the
// streaks save; on clustered data a handful of plain replays per streak is
// nothing.
const streakAfter = 8

// streak returns how many leading values of buf, the winner w's untaken
// values, are at most every other source's head: at least 1 (the head itself)
// and at most len(buf). Those can be taken as a block with one replay. The
// smallest other head is the smallest loser on w's path, since every other
// source lost, directly or through the chain of its victors, to one of them.
func (m *Merger) streak(w int, buf []int64) int {
	t := m.tree
	b := node{key: math.MaxUint64, id: math.MaxUint64}
	for p := (len(t) + w) >> 1; p > 0; p >>= 1 {
		if t[p].less(b) {
			b = t[p]
		}
	}
	// Values equal to the best loser's head may be taken too, whatever the
	// ids say: equal values cannot be told apart, and afterwards w's head is
	// above the best loser's, so the replay makes that loser the winner.
	lim := int64(b.key ^ 1<<63)
	// Gallop: probe 1, 2, 4, ... values ahead, then bisect the last gap,
	// so a streak of s values costs O(log s) comparisons.
	lo, step := 1, 1 // buf[:lo] are all <= lim
	for lo+step <= len(buf) && buf[lo+step-1] <= lim {
		lo += step
		step *= 2
	}
	hi := min(lo+step-1, len(buf)) // buf[hi] > lim, or hi == len(buf)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if buf[mid] <= lim {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// leaf returns the node for source i's current head.
func (m *Merger) leaf(i int) node {
	r := &m.runs[i]
	if r.pos == len(r.buf) {
		return node{key: math.MaxUint64, id: uint64(i) | exhausted}
	}
	return node{key: flip(r.buf[r.pos]), id: uint64(i)}
}

// replay replays the matches on the path from source w's leaf to the root
// of t, with c as w's new node, and stores and returns the new winner.
//
// A match has no branch: the borrow of the 128-bit comparison (see less)
// becomes a mask that picks winner and loser. The compiler can turn an if
// into conditional moves too, but does not reliably do so here, and the
// mispredicted branches halve throughput at k=10.
func replay(t []node, w int, c node) node {
	for p := (len(t) + w) >> 1; p > 0; p >>= 1 {
		n := t[p]
		_, borrow := bits.Sub64(n.id, c.id, 0)
		_, borrow = bits.Sub64(n.key, c.key, borrow)
		swap := -borrow // all ones if n < c: n goes up, c stays
		dk, di := (n.key^c.key)&swap, (n.id^c.id)&swap
		t[p] = node{key: n.key ^ dk, id: n.id ^ di}
		c = node{key: c.key ^ dk, id: c.id ^ di}
	}
	t[0] = c
	return c
}

// refill pulls chunks from source i until it gets a non-empty one or the
// source is exhausted; then runs[i].buf is the new chunk, or empty if
// exhausted. It reports false, with m.err set, if the source failed or its
// chunk went backwards.
func (m *Merger) refill(i int) bool {
	r := &m.runs[i]
	r.buf, r.pos = nil, 0
	for !r.eof {
		chunk, err := m.srcs[i].Next()
		if err == io.EOF {
			r.eof = true
		} else if err == ErrWait {
			m.waiting = i + 1
			return false
		} else if err != nil {
			m.err = &SourceError{Source: i, Err: err}
			return false
		}
		if len(chunk) == 0 {
			continue
		}
		if r.started && chunk[0] < r.last {
			m.err = &SourceError{Source: i, Err: &unsortedError{first: chunk[0], last: r.last}}
			return false
		}
		r.buf, r.last, r.started = chunk, chunk[len(chunk)-1], true
		return true
	}
	return true
}
