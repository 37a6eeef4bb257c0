package consumer

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/setting"
)

// keepRaw sets what rec keeps of its raw record r, and what it costs held.
// A held record keeps r itself, to forward it unchanged if its batch is
// dropped. A record of the batch streaming now keeps none: if that batch
// breaks, its records are read again (see the package doc).
//
// r is not copied: its bytes share memory with the rest of its fetch (the
// record batch it was decompressed from, or the whole fetch response when
// uncompressed), which it keeps alive while held. That costs more than r's
// own bytes only at the edge of what is held: a partition's held records
// are the newest it fetched, so the fetches they pin are nearly all held
// records too, and what is pinned beyond them is at most about a fetch
// response per broker (the fetch share of the budget).
func (e *engine) keepRaw(r *kgo.Record, rec *assemble.Record) {
	rec.Size = recordOverhead + 8*len(rec.Data)
	if e.streamB != nil && rec.BatchID == e.streamB.ID {
		return
	}
	rec.Ref = r
	rec.Size += len(r.Key) + len(r.Value)
}

// recordOverhead is what a held record costs beyond its bytes and data: the
// record structs (ours, and kgo's, which it keeps) and slice headers, from
// heap profiles of many small records.
const recordOverhead = 400

// checkSize stops the consumer when a record is too large for the memory
// budget: a streaming batch holds one chunk of every segment at once.
func (e *engine) checkSize(r *kgo.Record, rec *assemble.Record) error {
	segs := rec.Segments
	if segs <= 0 {
		segs = e.cfg.Segments
	}
	if segs > assemble.MaxSegments {
		return nil // a bad record, which the assembler refuses
	}
	if need := int64(rec.Size) * segs; need > int64(e.lim.Held) {
		return setting.Invalid("Memory", budget.Format(e.cfg.Memory),
			"too small for this topic: record %s takes %s held, and a batch of %d segments needs one such chunk of each segment held at once (%s, over the %s share for held records); give at least %s, or have the producer write smaller chunks",
			kafka.Source(r), budget.Format(int64(rec.Size)), segs, budget.Format(need), budget.Format(int64(e.lim.Held)), budget.Format(need*8*5/4+budget.Reserve))
	}
	return nil
}
