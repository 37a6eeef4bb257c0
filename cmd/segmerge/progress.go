package main

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmerge/segmerge/metrics"
)

// progress reports a run's figures as it goes, until Stop: on a terminal
// as one line that rewrites itself every half second; elsewhere (a file, a
// pipe, a container's log) as an info log line every interval, if interval
// is not zero. Either way it says the current rate (over the last
// report) beside the average.
type progress struct {
	c        *metrics.Run
	con      *console     // on a terminal
	log      *slog.Logger // elsewhere
	verb     string
	stop     chan struct{}
	done     sync.WaitGroup
	start    time.Time
	last     time.Time
	lastWork int64 // batches, or records for work counted in records
}

// startProgress reports c for the command (verb: what it does, "merged").
// On a terminal (con not nil) it draws the line; else it logs every
// interval, and with interval 0 it does nothing.
func startProgress(c *metrics.Run, verb string, con *console, log *slog.Logger, interval time.Duration) *progress {
	if con != nil {
		interval = 500 * time.Millisecond
	} else if interval <= 0 {
		return nil
	}
	now := time.Now()
	l := &progress{c: c, con: con, log: log, verb: verb, stop: make(chan struct{}), start: now, last: now}
	l.done.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				if l.con != nil {
					l.con.clearStatus()
				}
				return
			case <-t.C:
				l.report()
			}
		}
	})
	return l
}

func (l *progress) report() {
	now := time.Now()
	work := l.c.Batches.Load()
	if work == 0 {
		work = l.c.Records.Load()
	}
	rate := float64(work-l.lastWork) / max(now.Sub(l.last).Seconds(), 1e-9)
	l.last, l.lastWork = now, work
	s := formatProgress(l.verb, l.c, now.Sub(l.start), rate)
	if l.con != nil {
		l.con.status(s)
		return
	}
	l.log.Info(s)
}

// formatProgress renders figures as "<verb> N batches (R/s now, A/s on
// average), M integers", or "<verb> N records (...)" for work counted in
// records only (the repartition stage), with ", B bad records" when there
// are any. rate is the current rate of the work counted.
func formatProgress(verb string, c *metrics.Run, elapsed time.Duration, rate float64) string {
	secs := max(elapsed.Seconds(), 1e-9)
	b, ints, recs := c.Batches.Load(), c.Integers.Load(), c.Records.Load()
	s := fmt.Sprintf("%s %d batches (%s/s now, %s/s on average), %d integers", verb, b, si(rate), si(float64(b)/secs), ints)
	if b == 0 && ints == 0 && recs > 0 {
		s = fmt.Sprintf("%s %d records (%s/s now, %s/s on average)", verb, recs, si(rate), si(float64(recs)/secs))
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

// Stop ends the reports and erases the line; safe on a nil progress and
// idempotent.
func (l *progress) Stop() {
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
