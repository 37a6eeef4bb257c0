package consumer

import (
	"runtime"
	"sync"
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
	end  *kafka.EndWatch // -e only
	lim  budget.Shares

	stats      Stats
	epochStats Stats     // stats at the last commit: what a rollback returns to
	synced     time.Time // the last sync (flush)

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

	unassignedSince, unassignedTold time.Time // see noteUnassigned
}

func newEngine(cfg *Config, parts int32) *engine {
	lim := budget.Split(cfg.Memory, parts)
	asmCfg := assemble.Config{Segments: cfg.Segments, Partitions: parts, Whole: true, Timeout: cfg.BatchTimeout}
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
		cfg:  cfg,
		led:  ledger.New(newAsm),
		lim:  lim,
		pool: make([]wire.Decoder, runtime.GOMAXPROCS(0)),
	}
}

// asm is the ledger's assembler.
func (e *engine) asm() ledger.Assembler { return e.led.Asm() }

// committed records that offs are committed with everything written so far.
func (e *engine) committed(offs map[int32]int64) {
	e.led.Committed(offs)
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
	if sk, ok := e.cfg.Sink.(sink.Skipper); ok {
		sk.SkipThrough(last)
	}
}

// countReached reports whether Count is reached once extra more batches
// are written.
func (e *engine) countReached(extra int64) bool {
	return e.cfg.Count > 0 && e.stats.Batches+extra >= e.cfg.Count
}

// noteUnassigned says, every 10s, that this process holds no partition: a
// group join that does not complete (a crashed member not yet evicted, a
// broker in trouble) is otherwise silent.
func (e *engine) noteUnassigned() {
	if e.led.Assigned() > 0 {
		e.unassignedSince = time.Time{}
		return
	}
	now := time.Now()
	if e.unassignedSince.IsZero() {
		e.unassignedSince, e.unassignedTold = now, now
		return
	}
	if now.Sub(e.unassignedTold) >= 10*time.Second {
		e.unassignedTold = now
		e.cfg.Log.Info("waiting for the group to assign partitions (a crashed member is evicted after its session timeout)",
			"group", e.cfg.Group, "waiting", now.Sub(e.unassignedSince).Round(time.Second).String())
	}
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
