package assemble

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// laneRec is one record of a by-batch partition in the model: the batch,
// segment and lane it belongs to.
type laneRec struct {
	batch, seg int64
	lane       int32
}

// byBatch builds the records of one by-batch partition the way several
// repartition processes write it: for every batch id of the partition, one
// record per segment on lane seg mod lanes; each lane's records in batch
// order, the lanes interleaved at random.
func byBatch(rng *rand.Rand, ids []int64, segs int64, lanes int32) []laneRec {
	queues := make([][]laneRec, lanes)
	for _, b := range ids {
		for s := range segs {
			l := int32(s % int64(lanes))
			queues[l] = append(queues[l], laneRec{b, s, l})
		}
	}
	var out []laneRec
	for {
		var live []int
		for i, q := range queues {
			if len(q) > 0 {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return out
		}
		// Runs of up to 5 records from one lane: lanes drift apart.
		i := live[rng.IntN(len(live))]
		for k := rng.IntN(5) + 1; k > 0 && len(queues[i]) > 0; k-- {
			out = append(out, queues[i][0])
			queues[i] = queues[i][1:]
		}
	}
}

func (r laneRec) record(p int32, off int64, lanes int32) *Record {
	return &Record{Partition: p, Offset: off, BatchID: r.batch, SegmentID: r.seg, Last: true, Data: []int64{r.batch, r.seg}, Lane: r.lane, Lanes: lanes}
}

// lanesRun feeds parts' records from from[p] on, one record at a time with
// its position, into l, releasing and completing batches as it goes, until
// stop records have been fed (or all, if stop < 0). It returns the batches
// written (complete ones), and those skipped as begun before the start.
func lanesRun(t *testing.T, l *Lanes, parts [][]laneRec, from []int64, lanes int32, rng *rand.Rand, stop int) (written, cut []int64) {
	t.Helper()
	pos := slices.Clone(from)
	for fed := 0; stop < 0 || fed < stop; fed++ {
		var live []int
		for p := range parts {
			if pos[p] < int64(len(parts[p])) {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			break
		}
		p := live[rng.IntN(len(live))]
		r := parts[p][pos[p]].record(int32(p), pos[p], lanes)
		if v, err := l.Add(r); v != Accepted {
			t.Fatalf("p%d@%d batch %d segment %d: verdict %v: %v", p, pos[p], r.BatchID, r.SegmentID, v, err)
		}
		pos[p]++
		l.Position(int32(p), pos[p], pos[p] == int64(len(parts[p])))
		for b := l.Next(); b != nil; b = l.Next() {
			switch {
			case b.Complete():
				written = append(written, b.ID)
			case b.Cut:
				cut = append(cut, b.ID)
			default:
				t.Fatalf("batch %d dropped, missing %v", b.ID, b.Missing)
			}
			l.Done(b)
		}
	}
	return written, cut
}

// The lanes of a by-batch partition run apart at random, and a run is
// stopped at a random point and restarted from its commit offsets, as a
// crash or a rebalance would: across both runs every batch is written
// exactly once, and the batches the restart reads again without all their
// records are recognised as begun before its start. Seeds are logged.
func TestLanesModel(t *testing.T) {
	for i := range 200 {
		seed := uint64(time.Now().UnixNano()) + uint64(i)
		rng := rand.New(rand.NewPCG(seed, 0))
		nparts := rng.IntN(3) + 1
		nlanes := int32(rng.IntN(4) + 1)
		segs := int64(nlanes) + rng.Int64N(3) // a lane can hold several segments of a batch
		n := rng.Int64N(40) + 1
		parts := make([][]laneRec, nparts)
		for p := range nparts {
			var ids []int64
			for b := int64(p); b < n; b += int64(nparts) {
				ids = append(ids, b)
			}
			parts[p] = byBatch(rng, ids, segs, nlanes)
		}
		cfg := Config{Segments: segs, Partitions: int32(nparts)}
		start := func(from []int64) *Lanes {
			l := NewLanes(cfg)
			for p, off := range from {
				l.Assign(int32(p), Start{Next: off, CaughtUp: off == int64(len(parts[p]))})
			}
			return l
		}
		total := 0
		for _, ps := range parts {
			total += len(ps)
		}
		first := start(make([]int64, nparts))
		w1, _ := lanesRun(t, first, parts, make([]int64, nparts), nlanes, rng, rng.IntN(total+1))
		from := make([]int64, nparts)
		for _, o := range first.Commits(nil) {
			from[o.Partition] = o.Offset
		}
		second := start(from)
		w2, cut := lanesRun(t, second, parts, from, nlanes, rng, -1)

		seen := map[int64]int{}
		for _, id := range append(slices.Clone(w1), w2...) {
			seen[id]++
		}
		for b := range n {
			if seen[b] != 1 {
				t.Fatalf("seed %d (%d partitions, %d lanes, %d segments, %d batches): batch %d written %d times; first run %v, commits %v, second %v, cut %v",
					seed, nparts, nlanes, segs, n, b, seen[b], w1, from, w2, cut)
			}
		}
		for _, id := range cut {
			if !slices.Contains(w1, id) {
				t.Fatalf("seed %d: batch %d skipped as begun before the start, but the first run never wrote it", seed, id)
			}
		}
		if second.Pending() != 0 {
			t.Fatalf("seed %d: %d batches left pending", seed, second.Pending())
		}
	}
}

// A record's lane must be one of its partition's lanes, and every record of
// a partition must agree on how many there are; Lanes 0 is lane 0 of 1.
func TestLanesRefuseAMisplacedLane(t *testing.T) {
	l := NewLanes(Config{Segments: 2, Partitions: 1})
	l.Assign(0, Start{Next: 0})
	rec := func(off int64, lane, lanes int32) *Record {
		return &Record{Partition: 0, Offset: off, BatchID: 0, SegmentID: int64(lane), Last: true, Data: []int64{1}, Lane: lane, Lanes: lanes}
	}
	for _, tt := range []struct {
		name   string
		r      *Record
		reason string
	}{
		{"lane outside the count", rec(0, 3, 2), ReasonLanes},
		{"negative lane", rec(1, -1, 2), ReasonLanes},
		{"first record fixes the count", rec(2, 0, 2), ""},
		{"another count", rec(3, 1, 3), ReasonLanes},
		{"same count", rec(4, 1, 2), ""},
	} {
		v, err := l.Add(tt.r)
		var rej *Reject
		switch {
		case tt.reason == "" && v != Accepted:
			t.Errorf("%s: verdict %v (%v), want accepted", tt.name, v, err)
		case tt.reason != "" && (v != Rejected || !errors.As(err, &rej) || rej.Reason != tt.reason):
			t.Errorf("%s: verdict %v, err %v; want rejected as %s", tt.name, v, err, tt.reason)
		}
	}
	if b := l.Next(); b == nil || !b.Complete() {
		t.Fatalf("batch 0 of lanes 0 and 1 not released complete: %+v", b)
	}
	plain := NewLanes(Config{Segments: 1, Partitions: 1})
	plain.Assign(0, Start{Next: 0})
	if v, err := plain.Add(&Record{BatchID: 0, Last: true, Data: []int64{1}}); v != Accepted {
		t.Fatalf("a record with no lane (0 of 1) refused: %v", err)
	}
}
