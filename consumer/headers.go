package consumer

import "github.com/segmerge/segmerge/internal/kafka"

// Headers segmerge writes: a dead letter's (why it was refused, where it
// came from, which group refused it), and the repartition stage's on every
// record it forwards (where it was read, how many partitions its source
// had), which the batch layout reads as the record's lane.
const (
	HeaderReason     = kafka.HeaderReason     // a stable code (wire or assemble Reason*)
	HeaderError      = kafka.HeaderError      // the human message
	HeaderSource     = kafka.HeaderSource     // topic/partition@offset
	HeaderGroup      = kafka.HeaderGroup      // the group that refused it
	HeaderPartitions = kafka.HeaderPartitions // the source topic's partition count
	HeaderTruncated  = kafka.HeaderTruncated  // "true": a dead letter cut short, too large for its topic
	HeaderSize       = kafka.HeaderSize       // the size of a truncated dead letter's value before the cut
)
