// Package metrics holds the live figures of a run of one of segmerge's
// stages (produce, consume, repartition): what it has done so far and how
// it stands, safe to read while it runs. A run counts into the Run its
// Config names; the command line shows a Run as a progress line, and
// Collector exports one to Prometheus.
//
// # Costs
//
// A run adds to counters with atomic operations, a few per poll or per
// batch, never per integer; gauges and the lag are set once per poll.
// Collector reads them only when Prometheus scrapes: no request to a
// broker is made for a scrape.
package metrics

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Run is what a stage's run has done so far and how it stands; safe for
// concurrent use. The zero value is ready.
type Run struct {
	Batches  atomic.Int64 // batches merged and written (consume), or produced
	Integers atomic.Int64 // integers in them
	Records  atomic.Int64 // records consumed (repartition: forwarded), or produced
	Bad      atomic.Int64 // records refused (sent to the dead-letter topic)

	// Gauges, set as the run goes.
	HeldBytes        atomic.Int64 // bytes of records held while their batches assemble
	PausedPartitions atomic.Int64 // partitions paused for memory
	PendingBatches   atomic.Int64 // batches begun and not yet released

	Committed  atomic.Int64 // transactions (or plain commits) that committed
	Aborted    atomic.Int64 // transactions that aborted, to be redone
	Rebalances atomic.Int64 // partitions assigned or taken away

	mu         sync.Mutex
	dead       map[string]int64           // dead letters by reason
	lag        map[string]map[int32]int64 // records behind the end, by topic and partition
	latency    latency
	joined     bool      // a member of its group
	assigned   int       // partitions held
	waiting    string    // why the run cannot go on, if it cannot
	unanswered string    // why the brokers look out of reach, if they do
	polled     time.Time // the last poll
	looped     time.Time // the last turn of the run's loop
}

// DeadLetter counts n dead letters with reason.
func (r *Run) DeadLetter(reason string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead == nil {
		r.dead = map[string]int64{}
	}
	r.dead[reason] += n
	r.Bad.Add(n)
}

// DeadLetters returns the dead letters so far by reason.
func (r *Run) DeadLetters() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.dead)
}

// SetLag says partition p of topic is lag records behind its high
// watermark, as the client last saw it.
func (r *Run) SetLag(topic string, p int32, lag int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lag == nil {
		r.lag = map[string]map[int32]int64{}
	}
	if r.lag[topic] == nil {
		r.lag[topic] = map[int32]int64{}
	}
	r.lag[topic][p] = max(lag, 0)
}

// DropLag forgets the lag of partitions of topic no longer held.
func (r *Run) DropLag(topic string, parts ...int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range parts {
		delete(r.lag[topic], p)
	}
}

// Lag calls fn with every partition's lag, topics and partitions in order.
func (r *Run) Lag(fn func(topic string, p int32, lag int64)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range slices.Sorted(maps.Keys(r.lag)) {
		for _, p := range slices.Sorted(maps.Keys(r.lag[t])) {
			fn(t, p, r.lag[t][p])
		}
	}
}

// Latency observes how long a batch took from its last segment's record
// timestamp to its write.
func (r *Run) Latency(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency.observe(d.Seconds())
}

// Joined says the run is (or is no longer) a member of its group, holding
// partitions partitions.
func (r *Run) Joined(joined bool, partitions int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.joined, r.assigned = joined, partitions
}

// Waiting says why the run cannot go on (it holds only some of the
// partitions it needs, say), or "" when it can.
func (r *Run) Waiting(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waiting = why
}

// Stalled says the run's loop is alive but waits, for why (the brokers,
// say), instead of reading; "" once it reads again.
func (r *Run) Stalled(why string) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waiting, r.looped = why, now
}

// Unanswered says why the brokers look out of reach (no request answered
// for a while), or "" while they answer. It is apart from Waiting and
// Stalled, which the run's loop sets for its own reasons every turn.
func (r *Run) Unanswered(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unanswered = why
}

// Polled says the run polled its client now: it is alive and reading.
func (r *Run) Polled() {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.polled, r.looped = now, now
}

// Looped says the run's loop turned now, polling or not.
func (r *Run) Looped() {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.looped = now
}

// Health is how a run stands, for a liveness or readiness check.
type Health struct {
	Joined     bool      // a member of its group
	Partitions int       // partitions it holds
	Polled     time.Time // its last poll
	Looped     time.Time // its loop's last turn
	Waiting    string    // why it cannot go on, or ""
	Unanswered string    // why the brokers look out of reach, or ""
}

// Health returns how the run stands now.
func (r *Run) Health() Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Health{Joined: r.joined, Partitions: r.assigned, Polled: r.polled, Looped: r.looped, Waiting: r.waiting, Unanswered: r.unanswered}
}
