package consumer

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/consumer/internal/ledger"
	"github.com/segmerge/segmerge/emit"
	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/sink"
	"github.com/segmerge/segmerge/wire"
)

// engine is what every member of a run shares: the ledger (and in it the
// assembler), the merge, the sinks, the dead letters. Its methods run under
// mu, so that group callbacks and, in scalable mode, several members can
// call them.
type engine struct {
	mu   sync.Mutex
	cfg  *Config
	led  *ledger.Ledger
	dlq  *kafka.DeadLetters
	prod *kafka.Producer
	adm  *kadm.Client
	// topicID is the input topic's id when the run began ("" if the
	// cluster has none): commits carry it, a change ends the run.
	topicID string
	end     *kafka.EndWatch // -e only
	lim     budget.Shares
	// parts is the input topic's partition count.
	parts int32
	// limits bound what the run's clients write to each topic.
	limits kafka.Limits

	stats      Stats
	start      time.Time // Run's start, for Stats.First
	epochStats Stats     // stats at the last commit: what a rollback returns to
	// deadSent counts the dead letters in the open commit by reason
	// (see commitPoint): the metrics count them once committed.
	deadSent map[string]int64
	synced   time.Time // the last sync (flush)

	// Streaming (see the package doc): the batch released to stream, and
	// whether it has begun in the sinks.
	streamB *assemble.Batch
	begun   bool
	stream  emit.Stream

	scratch emit.Scratch   // merges held batches (simple and scalable modes)
	pipe    *emit.Pipeline // merges and writes held batches (concurrent mode)
	dec     wire.Decoder   // decodes a poll serially
	pool    []wire.Decoder // decodes a poll in parallel, a decoder a core
	wanted  []int32        // scratch for pauses

	unassignedSince, unassignedTold, rebalanceAsked time.Time    // see noteUnassigned
	paused                                          atomic.Int64 // partitions paused, over every member
}

func newEngine(cfg *Config, parts int32) *engine {
	lim := budget.Split(cfg.Memory, parts)
	asmCfg := assemble.Config{Segments: cfg.Segments, Partitions: parts, Whole: true, Timeout: cfg.BatchTimeout,
		// Batches that claim more segments than --segments may take
		// the held share in bookkeeping; usual batches are bounded by
		// pausing (see assemble.Config.MaxClaimBytes).
		MaxClaimBytes: lim.Held, MaxBatchGap: cfg.MaxBatchGap}
	if cfg.Mode != ModeScalable {
		// Streaming undoes a broken batch by rolling one member back;
		// scalable mode's members cannot be rolled back together.
		asmCfg.StreamAbove = lim.StreamAbove
	}
	newAsm := func() ledger.Assembler { return assemble.New(asmCfg) }
	if cfg.Layout == LayoutBatch {
		newAsm = func() ledger.Assembler { return assemble.NewLanes(asmCfg) }
	}
	return &engine{
		deadSent: map[string]int64{},
		cfg:      cfg,
		parts:    parts,
		led:      ledger.New(newAsm),
		lim:      lim,
		pool:     make([]wire.Decoder, runtime.GOMAXPROCS(0)),
	}
}

// asm is the ledger's assembler.
func (e *engine) asm() ledger.Assembler { return e.led.Asm() }

// committed records that marks are committed with everything written so
// far.
func (e *engine) committed(marks map[int32]ledger.Mark) {
	e.led.Committed(marks)
	m := e.cfg.Metrics
	m.Batches.Add(e.stats.Batches - e.epochStats.Batches)
	m.Integers.Add(e.stats.Integers - e.epochStats.Integers)
	m.Committed.Add(1)
	for reason, n := range e.deadSent {
		m.DeadLetter(reason, n)
	}
	clear(e.deadSent)
	e.epochStats = e.stats
}

// rollback forgets everything since the last commit, after a transaction
// aborted: the client is back at the committed offsets, so the ledger
// starts over there, and sinks that keep what they wrote (a file) skip the
// batches they already hold when those come again.
func (e *engine) rollback() {
	e.settle() // what was queued lands first; an error stays for the next drain
	e.streamB, e.begun = nil, false
	last := e.led.Rollback()
	e.stats = e.epochStats
	clear(e.deadSent)
	e.cfg.Metrics.Aborted.Add(1)
	if sk, ok := e.cfg.Sink.(sink.Skipper); ok {
		sk.SkipThrough(last)
	}
}

// gauges sets the metrics that say how the run stands: what is held,
// paused and pending. It runs under mu.
func (e *engine) gauges() {
	m := e.cfg.Metrics
	m.HeldBytes.Store(int64(e.asm().PendingBytes() + e.led.DeadBytes()))
	m.PendingBatches.Store(int64(e.asm().Pending()))
	m.PausedPartitions.Store(e.paused.Load())
	if held := e.led.Assigned(); e.partial() && held > 0 {
		m.Waiting(fmt.Sprintf("holds %d of the %d partitions of %s, and in the segment layout a batch spans them all: another process of group %s holds the rest", held, e.parts, e.cfg.Topic, e.cfg.Group))
	} else {
		m.Waiting("")
	}
}

// countReached reports whether Count is reached once extra more batches
// are written.
func (e *engine) countReached(extra int64) bool {
	return e.cfg.Count > 0 && e.stats.Batches+extra >= e.cfg.Count
}

// noteUnassigned says, every 10s, that this process holds no partition, or
// in the segment layout only some: a group join that does not complete,
// or a group shared with another process, is otherwise silent. It reports
// stuck once that has lasted a session timeout, every session timeout:
// time to ask for a rebalance (see member.ended).
func (e *engine) noteUnassigned() (stuck bool) {
	held, all := e.led.Assigned(), int(e.parts)
	if held == all || held > 0 && e.cfg.Layout == LayoutBatch {
		e.unassignedSince = time.Time{}
		return false
	}
	now := time.Now()
	if e.unassignedSince.IsZero() {
		e.unassignedSince, e.unassignedTold, e.rebalanceAsked = now, now, now
		return false
	}
	if now.Sub(e.rebalanceAsked) >= e.cfg.SessionTimeout {
		e.rebalanceAsked, stuck = now, true
	}
	if now.Sub(e.unassignedTold) < 10*time.Second {
		return stuck
	}
	e.unassignedTold = now
	waiting := now.Sub(e.unassignedSince).Round(time.Second).String()
	if held == 0 {
		e.cfg.Log.Info("no partition assigned yet: the brokers may be unreachable, a rebalance may be waiting for a crashed member's session to time out, or the group has more processes than the topic has partitions",
			"group", e.cfg.Group, "waiting", waiting)
		return stuck
	}
	e.cfg.Log.Warn("this process holds only some of the topic's partitions, and in the segment layout a batch spans them all: nothing can be merged, so reading is paused; another process of the group holds the rest (run one process per group, or the batch layout for many)",
		"group", e.cfg.Group, "topic", e.cfg.Topic, "held", held, "partitions", all, "waiting", waiting)
	return stuck
}

// partial reports whether, in the segment layout, this process holds only
// some of the topic's partitions: no batch can be released, and what is
// read would only be held.
func (e *engine) partial() bool {
	return e.cfg.Layout == LayoutSegment && e.led.Assigned() < int(e.parts)
}

// atEnd reports, with -e, whether every partition assigned here has reached
// the end offset read at start, and returns the topic's partitions that are
// not assigned here (whose progress only the group's commits can tell).
func (e *engine) atEnd() (bool, []int32) {
	if e.end == nil {
		return false, nil
	}
	var others []int32
	for _, p := range e.end.Partitions() {
		next, ok := e.led.Next(p)
		switch {
		case !ok:
			others = append(others, p)
		case next < e.end.Limit(p):
			return false, nil
		}
	}
	return true, others
}

// limit is the offset at which -e stops reading partition p; -1 without
// -e.
func (e *engine) limit(p int32) int64 {
	if e.end == nil {
		return -1
	}
	return e.end.Limit(p)
}
