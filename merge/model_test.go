package merge

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// model is the merge by brute force: concatenate and sort.
func model(runs [][]int64) []int64 {
	var all []int64
	for _, r := range runs {
		all = append(all, r...)
	}
	slices.Sort(all)
	return all
}

// randomCase is one randomly shaped merge: the runs, how each is cut into
// chunks, and the sizes of the caller's Read buffers.
type randomCase struct {
	desc   string
	runs   [][]int64
	chunks [][][]int64 // chunks[i] cuts runs[i]; may hold empty chunks
	eof    []bool      // source i returns its last chunk with io.EOF
	sizes  []int       // len(dst) for successive Reads, cycled
}

// values picks how a case draws its values.
var values = []struct {
	name string
	draw func(*rand.Rand) int64
}{
	{"tiny", func(r *rand.Rand) int64 { return r.Int64N(3) }},
	{"small", func(r *rand.Rand) int64 { return r.Int64N(100) - 50 }},
	{"full", func(r *rand.Rand) int64 { return int64(r.Uint64()) }},
	{"extremes", func(r *rand.Rand) int64 {
		e := [...]int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64}
		if r.IntN(4) == 0 {
			return int64(r.Uint64())
		}
		return e[r.IntN(len(e))]
	}},
}

func newRandomCase(rng *rand.Rand) randomCase {
	var k int
	switch rng.IntN(10) {
	case 0:
		k = rng.IntN(131) // up to 130
	case 1:
		k = rng.IntN(3)
	default:
		k = rng.IntN(13)
	}
	maxLen := [...]int{0, 1, 3, 20, 200, 2000}[rng.IntN(6)]
	val := values[rng.IntN(len(values))]
	chunkMode := rng.IntN(4) // 0 whole, 1 random sizes, 2 size 1, 3 random with many empties
	sizes := [][]int{{1}, {2}, {7}, {4096}, {1, 2, 7, 4096, 3}, {rng.IntN(100) + 1}}[rng.IntN(6)]

	c := randomCase{
		desc: fmt.Sprintf("k=%d maxLen=%d values=%s chunks=%d reads=%v",
			k, maxLen, val.name, chunkMode, sizes),
		sizes: sizes,
	}
	for range k {
		run := make([]int64, rng.IntN(maxLen+1))
		for j := range run {
			run[j] = val.draw(rng)
		}
		slices.Sort(run)
		var cut [][]int64
		rest := run
		for {
			var n int
			switch chunkMode {
			case 0:
				n = len(rest)
			case 1:
				n = rng.IntN(len(rest) + 2)
			case 2:
				n = 1
			case 3:
				if rng.IntN(2) == 0 {
					n = 0
				} else {
					n = rng.IntN(8)
				}
			}
			n = min(n, len(rest))
			cut = append(cut, rest[:n])
			rest = rest[n:]
			if len(rest) == 0 && (chunkMode == 0 || rng.IntN(3) > 0) {
				break
			}
		}
		c.runs = append(c.runs, run)
		c.chunks = append(c.chunks, cut)
		c.eof = append(c.eof, rng.IntN(4) == 0)
	}
	return c
}

// sources returns fresh scriptSources for the case.
func (c randomCase) sources() ([]*scriptSource, []Source) {
	ss := make([]*scriptSource, len(c.runs))
	srcs := make([]Source, len(c.runs))
	for i := range c.runs {
		ss[i] = newScript(c.chunks[i]...)
		ss[i].eofLast = c.eof[i]
		srcs[i] = ss[i]
	}
	return ss, srcs
}

// TestMergeRandom checks the Merger and Merge against the model on many
// randomly shaped inputs, reusing one Merger through Reset so that shrinking
// and growing k is covered too.
func TestMergeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 0))
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	m := New()
	for it := range iters {
		c := newRandomCase(rng)
		want := model(c.runs)
		ss, srcs := c.sources()
		m.Reset(srcs...)
		got, err := readAll(t, m, c.sizes)
		if err != nil {
			t.Fatalf("case %d (%s): %v", it, c.desc, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("case %d (%s):\ngot  %v\nwant %v", it, c.desc, clip(got), clip(want))
		}
		for i, s := range ss {
			if s.afterE > 0 {
				t.Fatalf("case %d (%s): source %d: Next called %d times after io.EOF", it, c.desc, i, s.afterE)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatalf("case %d: Close: %v", it, err)
		}
		for i, s := range ss {
			if s.closed != 1 {
				t.Fatalf("case %d: source %d closed %d times", it, i, s.closed)
			}
		}

		prefix := []int64{42, -42}
		merged := Merge(slices.Clone(prefix), c.runs...)
		if !slices.Equal(merged[:2], prefix) || !slices.Equal(merged[2:], want) {
			t.Fatalf("case %d (%s): Merge:\ngot  %v\nwant %v + %v", it, c.desc, clip(merged), prefix, clip(want))
		}
	}
}

// TestMergeRandomFailure injects a source error at a random chunk. Whatever
// was read before the failure must be a prefix of the full merge, and the
// error must be sticky, name the source and wrap the cause.
func TestMergeRandomFailure(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	iters := 1000
	if testing.Short() {
		iters = 100
	}
	m := New()
	for it := range iters {
		c := newRandomCase(rng)
		if len(c.runs) == 0 {
			continue
		}
		want := model(c.runs)
		ss, srcs := c.sources()
		bad := rng.IntN(len(ss))
		cause := fmt.Errorf("broker gone (case %d)", it)
		ss[bad].err = cause
		ss[bad].errAt = rng.IntN(len(ss[bad].chunks) + 1)
		ss[bad].eofLast = false
		m.Reset(srcs...)
		got, err := readAll(t, m, c.sizes)
		desc := fmt.Sprintf("case %d (%s, source %d fails at chunk %d)", it, c.desc, bad, ss[bad].errAt)
		if !errors.Is(err, cause) {
			t.Fatalf("%s: err = %v, want %v", desc, err, cause)
		}
		var se *SourceError
		if !errors.As(err, &se) || se.Source != bad {
			t.Fatalf("%s: err = %#v, want a *SourceError for source %d", desc, err, bad)
		}
		if !slices.Equal(got, want[:len(got)]) {
			t.Fatalf("%s: read before the error is not a prefix of the merge:\ngot  %v\nwant %v", desc, clip(got), clip(want))
		}
		for range 2 {
			if n, err2 := m.Read(make([]int64, 8)); n != 0 || err2 != err {
				t.Fatalf("%s: Read after error = %d, %v; want 0, %v", desc, n, err2, err)
			}
		}
		if m.Err() != err {
			t.Fatalf("%s: Err = %v, want %v", desc, m.Err(), err)
		}
		if cerr := m.Close(); cerr != err {
			t.Fatalf("%s: Close = %v, want %v", desc, cerr, err)
		}
	}
}

// TestMergeRapid is a property test: for any runs and chunking that rapid
// can think of, the Merger's output is the model's.
func TestMergeRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.IntRange(0, 20).Draw(t, "k")
		var runs [][]int64
		var srcs []Source
		for i := range k {
			run := rapid.SliceOfN(rapid.Int64(), 0, 50).Draw(t, fmt.Sprintf("run%d", i))
			slices.Sort(run)
			var chunks [][]int64
			for rest := run; len(rest) > 0; {
				n := rapid.IntRange(0, len(rest)).Draw(t, "chunk")
				chunks = append(chunks, rest[:n])
				rest = rest[n:]
			}
			runs = append(runs, run)
			srcs = append(srcs, newScript(chunks...))
		}
		size := rapid.IntRange(1, 64).Draw(t, "read")
		got, err := readAll(t, New(srcs...), []int{size})
		if err != nil {
			t.Fatal(err)
		}
		if want := model(runs); !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

// clip shortens long slices in failure messages.
func clip(s []int64) string {
	if len(s) <= 40 {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v ... (%d values)", s[:40], len(s))
}

// waitingSource says ErrWait before some of its chunks, as a source fed from
// the network does while the next chunk is on its way.
type waitingSource struct {
	Source
	rng   *rand.Rand
	waits int // ErrWaits returned
}

func (s *waitingSource) Next() ([]int64, error) {
	if s.rng.IntN(3) == 0 {
		s.waits++
		return nil, ErrWait
	}
	return s.Source.Next()
}

// TestMergeRandomWait checks that sources that are not ready change nothing
// but the pace: Read returns what it could merge, (0, ErrWait) when it could
// merge nothing, and the result is still the model's, with no value lost or
// repeated around a wait and no Next call after io.EOF.
func TestMergeRandomWait(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 2))
	iters := 2000
	if testing.Short() {
		iters = 200
	}
	m := New()
	totalWaits, totalSeen := 0, 0
	for it := range iters {
		c := newRandomCase(rng)
		want := model(c.runs)
		ss, srcs := c.sources()
		ws := make([]*waitingSource, len(srcs))
		for i := range srcs {
			ws[i] = &waitingSource{Source: srcs[i], rng: rng}
			srcs[i] = ws[i]
		}
		m.Reset(srcs...)
		var got []int64
		buf := make([]int64, 4096)
		waitsSeen := 0
		for i := 0; ; i++ {
			size := c.sizes[i%len(c.sizes)]
			n, err := m.Read(buf[:size])
			if n > 0 && err != nil {
				t.Fatalf("case %d (%s): Read returned n=%d with %v", it, c.desc, n, err)
			}
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err == ErrWait {
				waitsSeen++
				if m.Err() != nil {
					t.Fatalf("case %d: Err() = %v after ErrWait; want nil (not sticky)", it, m.Err())
				}
				continue
			}
			if err != nil {
				t.Fatalf("case %d (%s): %v", it, c.desc, err)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("case %d (%s):\ngot  %v\nwant %v", it, c.desc, clip(got), clip(want))
		}
		sum := 0
		for i, s := range ss {
			if s.afterE > 0 {
				t.Fatalf("case %d (%s): source %d: Next called %d times after io.EOF", it, c.desc, i, s.afterE)
			}
			sum += ws[i].waits
		}
		totalWaits += sum
		totalSeen += waitsSeen
	}
	// A wait met after some values were merged is not reported (Read
	// returns what it has), so only the totals must show both.
	if totalWaits == 0 || totalSeen == 0 {
		t.Fatalf("sources waited %d times, Read said ErrWait %d times: the test exercised nothing", totalWaits, totalSeen)
	}
}
