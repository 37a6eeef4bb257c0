package consumer

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Memory budget
//
// One number, Config.Memory (--memory), bounds the consumer's resident
// memory. Reserve of it is the process's code and runtime; the command sets
// the Go memory limit to the rest (GoMemoryLimit), so that the collector
// works harder rather than let the heap pass it; and the limits below are
// shares of that rest, leaving room for the decoder's and merge's scratch,
// kgo's decompression buffers and garbage not yet collected:
//
//   - fetches: one fetch response per broker buffered or in flight, each
//     at most M/64 bytes and 16 MiB (kgo's record structs take several times a small
//     record's bytes), and per partition M/96 over the partition count
//     (between 64 KiB and 1 MiB; a broker still sends one whole producer
//     batch where that is larger). M is Memory less Reserve. (Capping the
//     fetches below one per broker stalled a streaming merge: a slot held
//     by a fetch of paused partitions waits out FetchMaxWait.)
//   - held records: M/8, counting each record's raw bytes (kept to
//     forward it unchanged to the dead-letter topic, except for the batch
//     streaming now; not copied, so the oldest held records of a partition
//     also keep the rest of their fetch alive, about a fetch response per
//     broker at most, see keepRaw), 8 bytes per decoded integer,
//     recordOverhead, and each batch's own bookkeeping. Past it, partitions the lowest batch does
//     not wait on are paused until held records fall under 3/4 of it; and
//     once held records pass half of it, the lowest batch is merged as it
//     arrives instead of held whole (a streaming batch, see package
//     assemble), as soon as every segment has its first chunk;
//   - merging (concurrent mode): batches released whole and handed to the
//     merge workers, until written, at most M/16 bytes: their records as
//     held records count them, and their output. These no longer count
//     against the held share: they wait on no fetch, only on the workers.
//   - output: the producer buffers at most M/16 bytes of records.
//
// A streaming batch needs one chunk of every segment held at once, so the
// largest record times the segment count must fit in the held share; a
// record that breaks that stops the consumer with an error naming --memory.
//
// Figures (this repository's `segmerge bench --workload huge`) are in the
// README.

const (
	// DefaultMemory is Config.Memory's default.
	DefaultMemory = 512 << 20
	// MinMemory is the smallest budget accepted.
	MinMemory = 32 << 20
	// Reserve is the part of the budget a Go process spends outside its
	// heap: code, runtime and goroutine stacks (about 12 MiB measured
	// here). The shares below are of Memory less Reserve.
	Reserve = 14 << 20
)

// GoMemoryLimit is the Go memory limit (debug.SetMemoryLimit) that keeps a
// consumer with budget memory within it: the budget less Reserve.
func GoMemoryLimit(memory int64) int64 { return memory - Reserve }

// limits are the sizes derived from Config.Memory.
type limits struct {
	fetchBytes, partitionBytes int32
	held                       int // bytes of records held before pausing
	streamAbove                int // held bytes past which the lowest batch streams
	produceBuffer              int
	merging                    int // bytes handed to the merge workers and not written (pipeline.go)
}

func (c *Config) limits(partitions int32) limits {
	m := c.Memory
	if m <= 0 {
		m = DefaultMemory
	}
	m -= Reserve
	held := m / 8
	return limits{
		// kgo keeps a record struct per record fetched, whose size
		// passes the bytes of a small record several times over: the
		// fetch share is sized for records of ~70 bytes (the seed shape).
		fetchBytes: int32(min(m/64, 16<<20)),
		// A fetch of a partition lands in the held records at once,
		// decoded (2 to 6 times its size): keep one round of fetches
		// over every partition within half the held share.
		partitionBytes: int32(max(64<<10, min(held/12/int64(max(partitions, 1)), 1<<20))),
		held:           int(held),
		streamAbove:    int(m / 16),
		produceBuffer:  int(m / 16),
		merging:        int(m / 16),
	}
}

// fetchOptions are the client options that bound fetch memory.
func (l limits) fetchOptions() []kgo.Opt {
	return []kgo.Opt{
		kgo.FetchMaxBytes(l.fetchBytes),
		kgo.FetchMaxPartitionBytes(l.partitionBytes),
		kgo.FetchMaxWait(FetchMaxWait),
	}
}

// FetchMaxWait is how long the broker may hold a fetch that has nothing to
// return yet. Kafka's own default is 500ms; this one is short because a
// consumer that pauses partitions (see pauses) fetches unevenly: kgo keeps
// one fetch per broker in flight, and one that asks only for partitions at
// their end waits out the whole of this while partitions resumed meanwhile
// on that broker, the ones the lowest batch waits on, cannot be fetched.
// With 500ms such waits were more than half of a 100,000-batch seed run
// read with -e (1.8s; 1.0s at 100ms, 0.9s at 50ms). The price is an idle
// consumer's empty fetches, 20 a second per broker: against the embedded
// three-broker cluster, 1% of a core for the consumer and 1% for the
// broker (0.3% each at 500ms).
const FetchMaxWait = 50 * time.Millisecond

// ParseBytes reads a size such as 64MiB, 1GiB, 512KiB, 100MB or 1048576.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || n*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (examples: 64MiB, 1GiB, 500MB, 1048576)", s)
	}
	return int64(n * float64(mult)), nil
}

// FormatBytes writes n in the largest binary unit that keeps it whole-ish.
func FormatBytes(n int64) string {
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
