// Package consumer is the merge stage: it reads segment records from a
// Kafka topic, assembles them into batches by (batch_id, segment_id),
// merges every batch with a k-way merge and writes the batches in
// ascending batch-id order to a sink (file, stdout) and/or an output
// topic; records it cannot use go to <topic>.dlq.
//
// # Modes
//
// All three modes give byte-identical output; they differ in how the work
// is spread, as the original take-home's three consumers did:
//
//   - simple: one group member, one loop: poll, decode, assemble, merge,
//     write.
//   - scalable: several group members in one process (one per partition by
//     default), sharing one engine under a lock, so batches spanning
//     partitions owned by different members are still assembled whole.
//   - concurrent: one member; the partitions of each poll are decoded in
//     parallel, each assembled as soon as it is decoded while the rest
//     still are, and the batches it completes are merged on every core,
//     then written in order by one writer (emit.Pipeline).
//
// Scalable mode stays members sharing an engine, not an engine per
// member: in the segment layout a batch spans every partition, so its
// members must share one assembler, and the lock around it is what makes
// them the original "one consumer per partition" shape. Its price: one
// transaction cannot span its members, so its output topic is at least
// once, and it cannot undo a broken streaming batch across them, so it
// holds every batch whole.
//
// # Offsets and exactly once
//
// Offsets are committed by hand, only for records whose batches are
// written and flushed (or dead-lettered): see package ledger, the offsets
// core. A crash re-reads the batches not yet committed. Each sink makes
// that exactly once in its own way:
//
//   - The output topic (simple and concurrent modes) is written in Kafka
//     transactions, one per commit interval, holding the merged records,
//     the dead letters and the input offsets. The transaction commits the
//     ledger's safe offsets, not those polled (records of batches still
//     being assembled lie beyond them). An abort rolls the ledger back to
//     the last commit, kgo rewinds the fetch positions there, and the work
//     is redone.
//   - An output file resumes (see sink.Open): fsynced before every commit,
//     written in batch order, it skips re-read batches it already holds.
//   - Scalable mode commits each member's partitions separately; its output
//     topic is at least once.
//
// # Memory
//
// Config.Memory bounds what a consumer holds, whatever the size of a
// batch: package budget shares it out. Partitions the lowest batch does
// not wait on are paused once the held share is full (pause.go); a batch
// too large to hold is merged while its chunks arrive (emit.Stream). A
// streaming batch needs one chunk of every segment held at once, so a
// record too large for that stops the consumer with an error naming
// Memory.
//
// # Streaming batches and their undoing
//
// A streaming batch is begun in the sinks and merged poll by poll; nothing
// after it is released until it ends. Its records stay below the commit
// offsets until it ends. With an output topic it is written in a
// transaction of its own: the transaction holding earlier batches commits
// before it begins, and none commits while it streams (a commit then would
// publish part of a batch), so it must end within TransactionTimeout.
//
// A chunk that never comes (the assembler finds the batch Broken) means
// part of a bad batch has been written. The engine undoes it: the sinks
// discard the batch begun (the file is cut back to the line's start), the
// batch is refused from then on, and the member rolls back to the last
// commit (aborting its transaction, or rewinding its fetch positions), so
// that the batch's records are read again
// and this time go to the dead-letter topic, every one unchanged, with the
// missing segments named.
package consumer
