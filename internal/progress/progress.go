// Package progress counts work done and, on a terminal, shows it as one
// line on stderr that rewrites itself.
package progress

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Counters is what a command has done so far; safe for concurrent use.
type Counters struct {
	Batches  atomic.Int64
	Integers atomic.Int64
	Records  atomic.Int64
	Bad      atomic.Int64 // records refused
}

// Line reports counters on w every interval until Stop. Its owner starts it
// with Start and must call Stop, which erases the line.
type Line struct {
	c     *Counters
	w     io.Writer
	verb  string
	stop  chan struct{}
	done  sync.WaitGroup
	start time.Time
}

// Start shows c on w every interval, as "<verb> N batches, M integers (R/s)".
func Start(w io.Writer, c *Counters, verb string, interval time.Duration) *Line {
	l := &Line{c: c, w: w, verb: verb, stop: make(chan struct{}), start: time.Now()}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				fmt.Fprint(l.w, "\r\033[K")
				return
			case <-t.C:
				l.print()
			}
		}
	}()
	return l
}

func (l *Line) print() {
	secs := time.Since(l.start).Seconds()
	ints := l.c.Integers.Load()
	s := fmt.Sprintf("\r\033[K%s %d batches, %d integers (%.2f M integers/s)", l.verb, l.c.Batches.Load(), ints, float64(ints)/secs/1e6)
	if bad := l.c.Bad.Load(); bad > 0 {
		s += fmt.Sprintf(", %d bad records", bad)
	}
	fmt.Fprint(l.w, s)
}

// Stop ends the line and erases it; safe on a nil Line and idempotent.
func (l *Line) Stop() {
	if l == nil {
		return
	}
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.done.Wait()
}
