package consumer

import "time"

// Stats is what a consumer run did.
type Stats struct {
	Batches    int64 // batches written
	Integers   int64 // integers written
	Bad        int64 // records refused (sent to the dead-letter topic)
	Duplicates int64 // identical copies dropped
	Dropped    int64 // batches final without all segments (dead-lettered)
	Cut        int64 // batches begun before the start position (skipped)
	Late       int64 // batches written after a higher one
	Streamed   int64 // batches merged as they arrived (too large to hold whole)
	Pending    int   // batches left incomplete at exit (not committed)
	Elapsed    time.Duration
	// First is the time from the start until the first batch was written
	// (handed to the pipeline, in concurrent mode): joining the group and
	// positioning the partitions are in it. 0 if none was.
	First time.Duration
}
