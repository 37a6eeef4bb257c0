// Package budget shares one memory budget among the parts of a stage that
// hold memory: fetch responses, records held while batches assemble,
// batches handed to the merge workers, and the producer's buffer. It knows
// nothing of Kafka or of batches; the shares are sizes for whoever applies
// them (package kafka turns the fetch shares into client options).
//
// # The shares
//
// Reserve of the budget is kept for what the Go memory limit does not
// count, the binary's code and data; the limit is the rest (GoLimit), so
// the collector works harder rather than let the runtime's memory pass it.
// Below Min, what does not shrink with the budget takes a process past
// it. Of that rest, M:
//
//   - fetches: one fetch response per broker buffered or in flight, each
//     at most M/64 and 16 MiB, and per partition M/192 over the partition
//     count, between 64 KiB and 1 MiB (a broker still sends one whole
//     producer batch where that is larger). kgo's record structs take
//     several times a small record's bytes, and compression shrinks what
//     is fetched further, so the partition share is sized for records of
//     ~70 bytes compressed about threefold.
//   - held: M/8 of records held while their batches assemble. Past it,
//     the partitions the lowest batch does not wait on are paused, until
//     what is held falls under 3/4 of it.
//   - stream: past M/16 held, the lowest batch is merged as its chunks
//     arrive instead of held whole.
//   - merging: M/16 of batches handed to the merge workers and not yet
//     written.
//   - produce: M/16 of records in the producer's buffer.
//
// What the shares leave is the collector's headroom and per-core scratch.
//
// A stage that forwards what it reads without holding it (SplitForward)
// has no held, stream or merging share: its fetches may be larger (M/16 a
// response, M/32 a partition) and its producer's buffer M/8.
package budget
