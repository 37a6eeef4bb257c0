// Package ledger is the merge stage's offsets core: which partitions are
// read where, which batches are written and which are durable, which input
// offsets may be committed, and how to roll back to the last commit. It
// knows nothing of Kafka; the consumer feeds it what it reads, writes,
// flushes and commits, under its own lock.
//
// # The life of a batch
//
// A batch is released by the assembler, then written (or dropped to the
// dead letters, or skipped as begun before this consumer's start): Wrote,
// Dropped, Skipped. Once the sinks are flushed, the batches written since
// the last flush are durable (Durable), and only then does the assembler
// let the commit offsets (Commits) pass their records. A commit that
// succeeds moves each partition's base there (Committed).
//
// # Rolling back
//
// An aborted transaction takes back everything since the last commit: its
// output and the input offsets it would have committed. The client is
// then back at the committed offsets, and Rollback starts a new assembler
// there, every partition at its base: the batches since are read and
// written again. A sink that keeps what it wrote (a file) skips the
// batches it already holds: Rollback returns the highest batch id written,
// through which it skips. Batches refused while streaming (Refuse) stay
// refused in every assembler after.
//
// # Invariant
//
// A commit offset never passes a record whose batch is not durable, so a
// restart from the committed offsets re-reads exactly the records of the
// batches not yet durable (the model test checks it, with aborts and
// crashes at random).
package ledger
