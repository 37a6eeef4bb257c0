package order

import (
	"testing"
	"time"
)

// A silent partition holds the stream back until it is idle: read up to
// its end and silent for Idle. Then a record for it that sorts below what
// went out is late, and one after it is not.
func TestIdlePartition(t *testing.T) {
	t0 := time.Unix(100, 0)
	for _, tc := range []struct {
		name string
		idle time.Duration
		at   time.Duration // when Next is asked
		end  int64         // partition 1's end offset, as said
		out  bool          // partition 0's record goes out
		late bool          // partition 1's record with key 5 is late
	}{
		{name: "not yet idle", idle: time.Second, at: 999 * time.Millisecond, end: 0},
		{name: "idle", idle: time.Second, at: time.Second, end: 0, out: true, late: true},
		{name: "behind its end", idle: time.Second, at: time.Hour, end: 1},
		{name: "none waits forever", idle: -1, at: time.Hour, end: 0},
		{name: "zero timeout", idle: 0, at: 0, end: 0, out: true, late: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Config{Partitions: 2, Idle: tc.idle}, State{Parts: []PartState{{Next: 0}, {Next: 0}}}, t0)
			m.SetEnd(1, tc.end)
			m.Push(Entry{Pos: Pos{Key: 10, Partition: 0, Offset: 0}}, t0)
			_, out := m.Next(t0.Add(tc.at))
			if out != tc.out {
				t.Fatalf("record of partition 0 given out: %v, want %v", out, tc.out)
			}
			if w := m.Waiting(nil, t0.Add(tc.at)); !out && tc.end > 0 && (len(w) != 1 || w[0] != 1) {
				t.Fatalf("waiting on %v, want partition 1, which is behind its end", w)
			}
			if v := m.Push(Entry{Pos: Pos{Key: 5, Partition: 1, Offset: 0}}, t0.Add(tc.at)); (v == Late) != tc.late {
				t.Fatalf("key 5 in partition 1: %v, want late %v", v, tc.late)
			}
			if v := m.Push(Entry{Pos: Pos{Key: 11, Partition: 1, Offset: 1}}, t0.Add(tc.at)); v != OK {
				t.Fatalf("key 11 in partition 1: %v, want ok", v)
			}
		})
	}
}

// A partition that has delivered and emptied its queue holds the stream
// back again until it delivers more: with no idle timeout, until it is
// closed. Equal keys go out by partition, then offset.
func TestDrainedPartitionHoldsBack(t *testing.T) {
	t0 := time.Unix(100, 0)
	m := New(Config{Partitions: 2, Idle: -1}, State{Parts: make([]PartState, 2)}, t0)
	m.Push(Entry{Pos: Pos{Key: 7, Partition: 1, Offset: 0}}, t0)
	m.Push(Entry{Pos: Pos{Key: 7, Partition: 0, Offset: 0}}, t0)
	m.Push(Entry{Pos: Pos{Key: 7, Partition: 0, Offset: 1}}, t0)
	next := func() []Pos {
		var got []Pos
		for e, ok := m.Next(t0); ok; e, ok = m.Next(t0) {
			got = append(got, e.Pos)
		}
		return got
	}
	if got := next(); len(got) != 2 || got[0] != (Pos{7, 0, 0}) || got[1] != (Pos{7, 0, 1}) {
		t.Fatalf("given out %v, want 7 p0@0 and 7 p0@1, then a wait on partition 0", got)
	}
	if st := m.State(); st.Parts[0].Next != 2 || st.Parts[1].Next != 0 || st.Last != (Pos{7, 0, 1}) {
		t.Fatalf("state %+v: want partition 0 to restart at 2, partition 1 at 0, last 7 p0@1", st)
	}
	m.Close(0)
	if got := next(); len(got) != 1 || got[0] != (Pos{7, 1, 0}) {
		t.Fatalf("given out %v once partition 0 closed, want 7 p1@0", got)
	}
}

// A queue that never empties does not grow with the records that passed
// through it: a million records through a partition that always holds
// about ten leave its queue's capacity small.
func TestQueueDoesNotGrowWithThroughput(t *testing.T) {
	t0 := time.Unix(100, 0)
	m := New(Config{Partitions: 2, Idle: -1}, State{Parts: make([]PartState, 2)}, t0)
	m.Close(1)
	for i := range int64(1_000_000) {
		m.Push(Entry{Pos: Pos{Key: i, Partition: 0, Offset: i}}, t0)
		if i >= 10 {
			if _, ok := m.Next(t0); !ok {
				t.Fatalf("nothing given out after record %d", i)
			}
		}
	}
	if q := m.Queued(0); q != 10 {
		t.Fatalf("%d records queued, want 10", q)
	}
	if c := cap(m.parts[0].q); c > 64 {
		t.Fatalf("the queue's capacity is %d after a million records through ten queued", c)
	}
}
