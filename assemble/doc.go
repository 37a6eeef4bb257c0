// Package assemble turns segment records, arriving from many partitions in
// any interleaving, into whole batches released in ascending batch-id order,
// and says which input offsets are safe to commit.
//
// It knows nothing of Kafka, JSON or the merge: a record is a decoded segment
// (or chunk of one) tagged with the partition and offset it came from. One
// Assembler is owned by one goroutine; it has no locks and starts none.
//
// # Batches are assembled by id
//
// A batch is complete when every segment 0..segments-1 has arrived with its
// last chunk, whatever the order of arrival. "The next ten records" is never a
// batch: partitions run unevenly, so segment 3 of batch 9 may arrive before
// segment 0 of batch 8.
//
// # Progress, finality and order
//
// Every partition is ordered by batch id (in the segment layout segment s of
// each batch goes to partition s mod P; in the batch layout a whole batch goes
// to partition b mod P). The Assembler keeps, per assigned partition, the
// highest batch id seen there (its progress) and whether it has read all the
// partition holds for now (caught up).
//
// A batch is final when it can never gain another record: every partition
// that could hold one of its missing segments has moved past it. Which
// partitions those are follows from the batch's own records — records that
// sit on partition s mod P say segment layout, records that all sit on
// partition b mod P say batch layout — and when the records fit neither, every
// assigned partition must have moved past. With Config.Timeout, a batch also
// becomes final that long after its first record arrived. A final incomplete
// batch is released as dropped, with its missing segments named, so that the
// caller can send it to the dead-letter topic; the pipeline goes on. A
// dropped batch whose missing records lie before where reading began (a
// fresh start, not a group commit, in the middle of a live topic) is marked
// Cut: it was never this consumer's to read, and is not the producer's fault.
//
// Batches are released lowest id first. A complete batch b waits until every
// assigned partition has reached b or is caught up (and, with Config.Whole,
// until every partition of the topic is assigned), and until every lower
// pending batch is released: so a partition that runs behind holds the batches
// after it back instead of letting them overtake it. (In the batch layout a
// producer still writing can make a caught-up partition receive a lower batch
// later; that batch is released late rather than dropped, and Late reports it.)
//
// # Bad records
//
// Add refuses, with a Reject naming the reason, a record whose segment id is
// outside its batch, whose segment count disagrees with its batch's, whose
// chunk conflicts with one already held or with the chunk order, or whose
// batch is already released (late) or lower than its partition's progress
// (going backwards). An identical copy of a record already held or released (a
// producer retry) is dropped as a Duplicate. A refused record never moves a
// partition's progress.
//
// # Offsets
//
// A record is done when its batch has been released and the caller has said,
// with Done, that the batch is written; refused and duplicate records are done
// at once. Commits gives, per partition, the offset below which every record
// is done: the lowest offset of a record still held, or the next offset to
// read. Committing those offsets never skips a record that is not written, so
// a restart re-reads exactly the records of unwritten batches.
//
// # Memory
//
// The Assembler holds the data of every pending batch. Bounding that is the
// caller's job: PendingBytes says how much is held for batches still to
// come, and Wanted names the partitions the lowest batch waits on, so that
// a caller short of memory can pause the others. A batch too large to hold
// whole streams (Config.StreamAbove): it is released once each segment has
// its first chunk and merged as its chunks arrive, each chunk forgotten
// once taken (Take; see stream.go).
//
// # Lanes
//
// Lanes assembles a batch-layout topic partition by partition, each with
// an Assembler of its own whose partitions are the lanes of a
// repartitioned topic (the records that came from one source partition);
// see Lanes.
package assemble
