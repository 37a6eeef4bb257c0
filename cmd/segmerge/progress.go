package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/segmerge/segmerge/metrics"
)

// progressLine shows a run's figures on a terminal as one line that
// rewrites itself, every interval until Stop. Its owner starts it with
// startProgress and must call Stop, which erases the line.
type progressLine struct {
	c     *metrics.Run
	w     io.Writer
	verb  string
	stop  chan struct{}
	done  sync.WaitGroup
	start time.Time
}

// startProgress shows c on w every interval, as "<verb> N batches, M integers (R/s)".
func startProgress(w io.Writer, c *metrics.Run, verb string, interval time.Duration) *progressLine {
	l := &progressLine{c: c, w: w, verb: verb, stop: make(chan struct{}), start: time.Now()}
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

func (l *progressLine) print() {
	fmt.Fprint(l.w, "\r\033[K"+formatProgress(l.verb, l.c, time.Since(l.start)))
}

// formatProgress renders figures as "<verb> N batches (R/s), M integers (R/s)",
// or "<verb> N records (R/s)" for work counted in records only (the
// repartition stage), with ", B bad records" when there are any.
func formatProgress(verb string, c *metrics.Run, elapsed time.Duration) string {
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

// Stop ends the line and erases it; safe on a nil line and idempotent.
func (l *progressLine) Stop() {
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
