// Package emit merges released batches into sinks, the last step of the
// pipeline: a batch held whole is merged by Scratch.Write; a batch too
// large to hold is merged by a Stream as its chunks arrive; and a Pipeline
// merges and renders held batches on every core and writes them in order.
// It knows nothing of Kafka: batches come from package assemble, values go
// to a sink.Sink.
//
// # Held batches
//
// A batch released whole has every chunk of every segment in memory.
// Scratch merges it with merge.Packed when its values allow (nearly
// always: their range must fit within 2^59 for ten segments), else with the
// general loser-tree merge.Merger, and writes the merged values to the sink
// piece by piece, so that the output never holds the batch twice.
//
// # Streaming batches
//
// A Stream merges a batch released before it was complete
// (assemble.Batch.Streaming): it takes each segment's next chunk from the
// assembler as the merge needs it, writes what it merged at once, and
// stops where a segment's next chunk has not arrived. Its owner calls Pump
// again after each poll; nothing after the batch is released until it
// ends. A batch that turns out broken is cut from the sinks (Abort).
//
// # The pipeline
//
// In concurrent mode the consumer does not merge. It hands the batches a
// poll releases, in order, to a Pipeline and goes back to polling and
// decoding. The pipeline cuts them into groups of consecutive batches (up
// to groupInts integers; a larger batch makes a group alone), and a worker
// per core takes the next group, merges each batch and renders its line
// for every sink that takes rendered lines (sink.LineSink: files, the
// console). One writer writes the groups in order as they are done. So the
// cores share merging and formatting as the work comes, and only the
// writer waits, for the group it writes next. Grouping is for small
// batches: handing a 150-integer batch over on its own costs as much as
// merging it.
//
// Merging reads a batch's records and writes nothing of the assembler's,
// so the workers run without the caller's lock. The caller learns which
// batches are merged from Submit's and Reap's reports (their records'
// memory may then go: assemble's Merged), and waits for everything handed
// over to be written with Drain: before a flush and commit, before a
// streaming batch begins, on a rollback, at the end. A merge or write
// error is kept, nothing after it is written, and the next Submit or Drain
// returns it, so no commit passes it.
//
// Memory: what is handed over and not yet written is bounded by the
// pipeline's maximum (Submit blocks beyond it), counting each batch's
// records as the assembler does (assemble.Batch.Bytes) and its output
// (merged values, if a sink takes values; rendered lines) at outputBytes an
// integer. The output memory of written groups is kept for reuse (up to 8
// groups of 4 MiB), so groups are seldom allocated.
package emit
