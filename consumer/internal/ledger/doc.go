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
// # What a commit says
//
// A commit says, per partition, an offset and a floor (Mark): every record
// below the offset is done, and so is every batch below the floor. The
// floor is what lets a restart tell a replay from a first read: a record of
// a batch below it comes again only if someone sent it again, and it is
// refused as replayed (or, in the lanes of the batch layout, which re-read
// records of batches already done after every restart, dropped as a
// duplicate) instead of being written twice.
//
// # Dead letters
//
// A dead letter commits with its record's offset, exactly once: Dead holds
// it until a commit passes the record (TakeDead), and a rollback or a
// revocation forgets it, for the record is read, and judged, again.
//
// # Invariant
//
// A commit offset never passes a record whose batch is not durable, or
// whose dead letter is not in the commit, so a restart from the committed
// offsets re-reads exactly the records not yet done (the model test checks
// it, with aborts and crashes at random).
package ledger
