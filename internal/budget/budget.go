package budget

import "strconv"

const (
	// Default is the budget when none is given: 512 MiB.
	Default = 512 << 20
	// Min is the smallest budget a stage accepts, and the smallest a
	// process stays within: 64 MiB. What does not shrink with the budget
	// takes a process past anything smaller: the binary's code (about 17
	// MB of it resident) and the clients' buffers of fixed size.
	Min = 64 << 20
	// Reserve is the part of the budget kept out of the Go memory limit,
	// for what the limit does not count: the binary's code and data,
	// mapped from its file. A consume has about 17 MB of it resident, more
	// than Reserve; from Min up, the heap's room under the limit takes the
	// rest, and the process stays within its budget.
	Reserve = 14 << 20
	// StreamReserve is Reserve for segmerge stream. Its heap reaches the
	// Go memory limit in a steady run (the ordering queue and the
	// client's fetch buffers fill their shares together), and with 14 MiB
	// outside the heap its peak RSS went past the budget (64.1-64.3 MiB at
	// --memory 64MiB on snappy input).
	StreamReserve = 20 << 20
)

// GoLimit is the Go memory limit (debug.SetMemoryLimit) that keeps a
// process with budget memory within it: the budget less Reserve.
func GoLimit(memory int64) int64 { return memory - Reserve }

// Shares are the sizes derived from one budget (see the package doc).
type Shares struct {
	// FetchBytes bounds one fetch response; PartitionBytes one
	// partition's part of it.
	FetchBytes, PartitionBytes int32
	// Held is the bytes of records held before partitions are paused.
	Held int
	// StreamAbove is the held bytes past which the lowest batch streams.
	StreamAbove int
	// Merging bounds batches handed to the merge workers, not yet written.
	Merging int
	// Produce bounds the producer's buffer.
	Produce int
}

// Split returns the shares of memory (Default if not positive) for a topic
// of partitions partitions.
func Split(memory int64, partitions int32) Shares {
	if memory <= 0 {
		memory = Default
	}
	m := memory - Reserve
	held := m / 8
	return Shares{
		FetchBytes: int32(min(m/64, 16<<20)),
		// A fetch of a partition lands in the held records at once,
		// decoded: a round of fetches over every partition takes
		// held/24 on the wire, so records held at up to 24 times their
		// size fetched fit the held share. Small compressed records
		// come near that; large ones hold about their size and are
		// still fetched in pieces of 64 KiB and up. The consumer and
		// stream cut it further for records so small that it would
		// fetch many thousands at once (kafka.GroupConfig.FitRecords).
		PartitionBytes: int32(max(64<<10, min(held/24/int64(max(partitions, 1)), 1<<20))),
		Held:           int(held),
		StreamAbove:    int(m / 16),
		Merging:        int(m / 16),
		Produce:        int(m / 16),
	}
}

// Format writes n bytes in the largest binary unit that keeps it
// readable: 64MiB, 1.5MiB, 512KiB, 100B.
func Format(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// SplitForward returns the shares of memory for a stage that forwards what
// it reads without holding it (the repartition stage): with no records
// held, fetches may take M/16 a response (at most 64 MiB) and M/32 a
// partition (less for small records: kafka.GroupConfig.FitRecords), and
// the producer M/8.
func SplitForward(memory int64, partitions int32) Shares {
	if memory <= 0 {
		memory = Default
	}
	m := memory - Reserve
	return Shares{
		FetchBytes:     int32(min(m/16, 64<<20)),
		PartitionBytes: int32(max(64<<10, min(m/32, 8<<20))),
		Produce:        int(m / 8),
	}
}
