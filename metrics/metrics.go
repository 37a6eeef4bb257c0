// Package metrics holds the live figures of a run of one of segmerge's
// stages (produce, consume, repartition): what it has done so far, safe to
// read while it runs. A run counts into the Run its Config names; the
// command line shows a Run as a progress line.
package metrics

import "sync/atomic"

// Run is what a stage's run has done so far; safe for concurrent use. The
// zero value is ready.
type Run struct {
	Batches  atomic.Int64 // batches merged and written (consume), or produced
	Integers atomic.Int64 // integers in them
	Records  atomic.Int64 // records consumed (repartition: forwarded), or produced
	Bad      atomic.Int64 // records refused (sent to the dead-letter topic)
}
