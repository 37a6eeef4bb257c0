package consumer

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/internal/kafka"
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

// tooLarge says why a record cannot be held within the memory budget, or
// "": a streaming batch holds one chunk of every segment at once, so the
// record's size times its batch's segment count must fit in the held
// share. Such a record goes to the dead letters; the message names Memory
// and what it would take.
func (e *engine) tooLarge(r *kgo.Record, rec *assemble.Record) string {
	segs := rec.Segments
	if segs <= 0 {
		segs = e.cfg.Segments
	}
	if segs > assemble.MaxSegments {
		return "" // a bad record, which the assembler refuses
	}
	need := int64(rec.Size) * segs
	if need <= int64(e.lim.Held) {
		return ""
	}
	return fmt.Sprintf("record %s takes %s held, and a batch of %d segments needs one such chunk of each segment held at once (%s), over the %s share of {Memory} %s for held records: give {Memory} at least %s, or have the producer write smaller chunks",
		kafka.Source(r), budget.Format(int64(rec.Size)), segs, budget.Format(need), budget.Format(int64(e.lim.Held)), budget.Format(e.cfg.Memory), budget.Format(need*8*5/4+budget.Reserve))
}
