package kafka

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// An ending context outlives a stop by the grace, no more, and is never cut
// without one; the base's own end still ends it; made after the stop, it is
// cut a grace after it is made.
func TestEndingCutsAGraceAfterTheStop(t *testing.T) {
	const grace = 50 * time.Millisecond

	// No stop: only the base ends it.
	base, cancelBase := context.WithCancel(context.Background())
	stop, stopNow := context.WithCancel(context.Background())
	ectx, release := Ending(base, stop, grace)
	time.Sleep(2 * grace)
	if ectx.Err() != nil {
		t.Fatal("cut without a stop")
	}
	cancelBase()
	<-ectx.Done()
	if context.Cause(ectx) == ErrCut {
		t.Fatal("the base's end taken for a cut")
	}
	release()

	// A stop: not at once, but a grace later, as ErrCut.
	ectx, release = Ending(context.Background(), stop, grace)
	stopped := time.Now()
	stopNow()
	time.Sleep(grace / 5)
	if ectx.Err() != nil {
		t.Fatal("cut at the stop, not a grace after it")
	}
	select {
	case <-ectx.Done():
	case <-time.After(100 * grace):
		t.Fatal("never cut after the stop")
	}
	if waited := time.Since(stopped); waited < grace {
		t.Fatalf("cut %v after the stop, grace %v", waited, grace)
	}
	if !errors.Is(context.Cause(ectx), ErrCut) {
		t.Fatalf("cause %v, want ErrCut", context.Cause(ectx))
	}
	release()

	// Already stopped: the grace runs from the start.
	started := time.Now()
	ectx, release = Ending(context.Background(), stop, grace)
	<-ectx.Done()
	if waited := time.Since(started); waited < grace || !errors.Is(context.Cause(ectx), ErrCut) {
		t.Fatalf("already stopped: cut after %v (grace %v), cause %v", waited, grace, context.Cause(ectx))
	}
	release()
}

// closeWithin waits for quick closes, and returns after d when one hangs.
func TestCloseWithinBoundsAHungClose(t *testing.T) {
	var closed [2]bool
	start := time.Now()
	CloseWithin(time.Second, slog.New(slog.DiscardHandler), func() { closed[0] = true }, func() { closed[1] = true })
	if !closed[0] || !closed[1] || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("quick closes: closed %v after %v", closed, time.Since(start))
	}
	release := make(chan struct{})
	defer close(release)
	start = time.Now()
	CloseWithin(50*time.Millisecond, slog.New(slog.DiscardHandler), func() { <-release })
	if waited := time.Since(start); waited < 50*time.Millisecond || waited > time.Second {
		t.Fatalf("a hung close held closeWithin %v, bound 50ms", waited)
	}
}
