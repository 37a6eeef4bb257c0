package consumer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// recordingSink keeps what it is given, and fails the batch failAt.
type recordingSink struct {
	mu     sync.Mutex
	ids    []int64
	ints   int
	failAt int64
}

func (s *recordingSink) Begin(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == s.failAt {
		return errors.New("disk full")
	}
	s.ids = append(s.ids, id)
	return nil
}

func (s *recordingSink) Write(v []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ints += len(v)
	return nil
}

func (s *recordingSink) End() error                  { return nil }
func (s *recordingSink) Flush(context.Context) error { return nil }
func (s *recordingSink) Close() error                { return nil }

// The ordered writer writes every batch in the order given, with a queue
// smaller than the batches (so write blocks), and drain waits for all.
func TestOrderedWriterKeepsOrder(t *testing.T) {
	s := &recordingSink{failAt: -1}
	w := newOrderedWriter(s, 10)
	var want []int64
	for id := range int64(200) {
		if err := w.write(id, make([]int64, 1+int(id)%7)); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if err := w.drain(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	got := slices.Clone(s.ids)
	s.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("written %v, want 0..199 in order", got)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
}

// A failed write is returned by the next drain and write, and nothing after
// it is written: a commit never passes it.
func TestOrderedWriterStopsAtAnError(t *testing.T) {
	s := &recordingSink{failAt: 5}
	w := newOrderedWriter(s, 1000)
	for id := range int64(5) {
		if err := w.write(id, []int64{id}); err != nil {
			t.Fatal(err)
		}
	}
	w.write(5, []int64{5})
	err := w.drain()
	if err == nil || err.Error() != "write batch 5: disk full" {
		t.Fatalf("drain = %v, want batch 5's failure", err)
	}
	if werr := w.write(6, []int64{6}); werr == nil {
		t.Fatal("write after a failure was taken")
	}
	if cerr := w.close(); cerr == nil {
		t.Fatal("close forgot the failure")
	}
	if !slices.Equal(s.ids, []int64{0, 1, 2, 3, 4}) {
		t.Fatalf("written %v, want 0..4 only", s.ids)
	}
}
