// Package repartition is the first stage for the segment layout. In the
// segment layout a batch spans every partition, so one process must read
// them all to assemble it. This stage lifts that limit the way Kafka
// Streams does before a keyed aggregation: it reads the topic and writes
// every record, value bytes unchanged, to <topic>.by-batch keyed by its
// batch id, on partition batch_id mod P. The merge stage (package
// consumer) then reads <topic>.by-batch in the batch layout, where the
// processes of a group split the partitions. Both stages scale by adding
// processes to their groups; each has its own group, so that they never
// rebalance each other.
//
// # Exactly once, in source order
//
// Each process of the stage is one group member in a transactional
// session: the records it forwards, the dead letters and the input offsets
// of everything it polled commit together, every CommitInterval. Every
// polled record is forwarded (or dead-lettered), so committing all polled
// offsets is right, unlike the merge stage, which holds records of batches
// still being assembled. A rebalance aborts the open transaction and the
// session rewinds to the last commit, so a source partition's records reach
// <topic>.by-batch, as read_committed readers see it, once and in source
// order.
//
// # Lanes
//
// Forwarded records carry two headers: kafka.HeaderSource (where the
// record was read, topic/partition@offset) and kafka.HeaderPartitions (the
// source topic's partition count). The merge stage reads each source
// partition's records as a lane, ordered by batch id (see assemble.Lanes).
//
// # Bad records
//
// A record that cannot be decoded (its batch id unknown) has no partition
// to go to: it goes to <topic>.dlq with the merge stage's headers. Records
// that decode but are wrong within their batch (a segment out of range, a
// conflicting copy) are forwarded: only the merge stage, which sees the
// whole batch, can judge them, and it dead-letters them to
// <topic>.by-batch.dlq.
//
// # Memory
//
// Config.Memory bounds the stage as it bounds the merge stage (package
// budget): its fetches, and the records forwarded and not yet acknowledged
// (the producer's share, past which forwarding blocks).
package repartition
