// Package stream is segmerge stream: one globally ordered stream from a
// topic whose partitions are each sorted by a key (the record timestamp, or
// an integer field of a JSON value). Records come out in ascending key,
// ties by partition then offset, to one partition of an output topic or to
// a file; records that cannot keep that order go to <topic>.dlq. The
// ordering itself (when a record may go out, which records are late or
// unsorted, what offsets are safe to commit) is package
// stream/internal/order, which knows nothing of Kafka; this package reads
// and writes Kafka around it.
//
// # When a record goes out
//
// Only once every partition holds a later record, or has read up to its
// end and received nothing for Config.IdleTimeout (a negative timeout waits
// forever), or, with ExitAtEnd, has reached the end offset read at start.
// A record that arrives for a partition after the stream has passed its key
// is late; one below its own partition's previous key is unsorted; one
// whose key cannot be read is bad. Each goes to the dead-letter topic with
// the reason (HeaderReason), in its partition's offset order, and the
// stream goes on.
//
// # Exactly once
//
// The process is one member of a group in a transactional session: the
// records written, the dead letters and the input offsets commit together
// every CommitInterval. The offsets committed are those of each
// partition's first record not yet written (or dead-lettered), not those
// polled; the commit's metadata holds what a restart needs to decide as
// this run would have: the last record written and each partition's
// previous key (see order.State), and for a file its length. Every time
// the member is assigned the partitions, and after every abort, the
// ordering state is rebuilt from the group's committed offsets and their
// metadata, so nothing of it lives only in memory. An output file is
// fsynced before each commit and cut back to the committed length when a
// run begins or an abort rewinds.
//
// # One writer
//
// Global order needs one writer. The group's balancer gives every
// partition to one member, the one that held them if it is still there;
// any other member waits as a standby, says so, and takes over when the
// owner leaves or its session times out. Each process has its own
// transactional id, so that a standby never fences the owner.
//
// # Memory
//
// Config.Memory bounds the run as the merge stage's does (package budget):
// the fetches, the producer's buffer, and the records held for ordering,
// past which every partition that holds records is paused and the ones the
// stream waits on are read.
package stream
