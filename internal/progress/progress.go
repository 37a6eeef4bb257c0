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
	fmt.Fprint(l.w, "\r\033[K"+Format(l.verb, l.c, time.Since(l.start)))
}

// Format renders counters as "<verb> N batches (R/s), M integers (R/s)",
// or "<verb> N records (R/s)" for work counted in records only (the
// repartition stage), with ", B bad records" when there are any.
func Format(verb string, c *Counters, elapsed time.Duration) string {
	secs := max(elapsed.Seconds(), 1e-9)
	b, ints, recs := c.Batches.Load(), c.Integers.Load(), c.Records.Load()
	s := fmt.Sprintf("%s %d batches (%s/s), %d integers (%s/s)", verb, b, si(float64(b)/secs), ints, si(float64(ints)/secs))
	if b == 0 && ints == 0 && recs > 0 {
		s = fmt.Sprintf("%s %d records (%s/s)", verb, recs, si(float64(recs)/secs))
	}
	if bad := c.Bad.Load(); bad > 0 {
		s += fmt.Sprintf(", %d bad records", bad)
	}
	return s
}

// si renders a rate with three significant digits and an SI prefix.
func si(v float64) string {
	for _, u := range []struct {
		f float64
		p string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.f {
			return fmt.Sprintf("%.3g%s", v/u.f, u.p)
		}
	}
	return fmt.Sprintf("%.3g", v)
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
