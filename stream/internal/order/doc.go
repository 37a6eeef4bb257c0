// Package order is the ordering core of segmerge stream: it takes records
// from partitions that are each sorted by a key and gives them out as one
// stream in ascending (key, partition, offset) order, deciding which
// records are late or unsorted and which input offsets are safe to commit.
//
// It knows nothing of Kafka, JSON or time sources: a record is a key, the
// partition and offset it came from, a size and an opaque item; the caller
// passes the time in. One Merger is owned by one goroutine; it has no locks
// and starts none.
//
// # When a record may go out
//
// Each partition has a queue of the records read from it and not yet given
// out, in offset order. The candidate is the smallest head over all queues.
// It goes out once every other partition either
//
//   - holds a record (its head sorts after the candidate, which is the
//     smallest),
//   - is closed (Close: it will deliver nothing more), or
//   - is idle: it has read up to its end (SetEnd) and received nothing for
//     Config.Idle. A negative Idle never makes a partition idle: a silent
//     partition then holds the stream back until it delivers.
//
// # Late and unsorted records
//
// A record whose key is below its partition's previous key (that of the
// last record that was not unsorted) is unsorted. A record that is not
// unsorted but sorts below the last record given out is late: an idle
// partition was passed before it arrived. Neither goes out; both are given
// back, in their partition's offset order, as rejections (Verdict) for the
// dead-letter topic. Only idleness makes records late: with a negative
// Idle and no Close before the end, none is.
//
// # Commit offsets and restarts
//
// Everything a partition's queue holds is what a restart must read again:
// State says, per partition, the offset of its queue's head (or the next
// offset to read, if the queue is empty) and the previous key as of that
// offset, and the last record given out. A Merger made from a State, fed
// again from those offsets, decides as the first would have for every
// record it had not yet given out: no record is late after a restart that
// was not before, since every record a queue holds sorts after the last one
// given out.
//
// # Memory
//
// Queued bytes are bounded by Config.MaxBytes with hysteresis: past it
// every partition that holds records is to be paused (Pauses); below three
// quarters of it they resume. A partition with an empty queue is never
// paused: the stream may be waiting on it. So the queues hold at most
// MaxBytes plus two reads' worth a partition.
//
// # Cost
//
// Push is O(1); Next is O(P) for P partitions, for the smallest head and
// the check of every other partition.
package order
