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
// One number, Config.Memory (--memory), bounds what the consumer holds; the
// limits below are derived from it so that their sum stays under it with
// room for the Go runtime, the decoder's and merge's scratch, and garbage not
// yet collected (the command sets the Go memory limit to Memory, so the
// collector works harder rather than let the heap pass it):
//
//   - fetches: at most 2 fetch responses buffered or in flight, each at most
//     Memory/16 bytes and Memory/64 per partition (capped at 4 MiB): under
//     Memory/8 of raw records;
//   - held records: Memory/8, counting each record's raw bytes (kept to
//     forward it unchanged to the dead-letter topic) plus 8 bytes per
//     decoded integer. Past it, partitions the lowest batch does not wait
//     on are paused until held records fall under 3/4 of it; and a batch
//     that fills half of it is merged as it arrives instead of held whole
//     (a streaming batch, see package assemble);
//   - output: the producer buffers at most Memory/16 bytes of records.
//
// A streaming batch needs one chunk of every segment held at once, so the
// largest record times the segment count must fit in the held share; a
// record that breaks that stops the consumer with an error naming --memory.
//
// Figures (this repository's `segmerge bench --workload huge`) are in the
// README.

const (
	// DefaultMemory is Config.Memory's default.
	DefaultMemory = 256 << 20
	// MinMemory is the smallest budget accepted.
	MinMemory = 16 << 20
)

// limits are the sizes derived from Config.Memory.
type limits struct {
	fetchBytes, partitionBytes int32
	fetches                    int
	held                       int // bytes of records held before pausing
	streamAbove                int // held bytes past which the lowest batch streams
	produceBuffer              int
}

func (c *Config) limits() limits {
	m := c.Memory
	if m <= 0 {
		m = DefaultMemory
	}
	return limits{
		fetchBytes:     int32(min(m/16, 64<<20)),
		partitionBytes: int32(min(m/64, 4<<20)),
		fetches:        2,
		held:           int(m / 8),
		streamAbove:    int(m / 16),
		produceBuffer:  int(m / 16),
	}
}

// fetchOptions are the client options that bound fetch memory.
func (l limits) fetchOptions() []kgo.Opt {
	return []kgo.Opt{
		kgo.FetchMaxBytes(l.fetchBytes),
		kgo.FetchMaxPartitionBytes(l.partitionBytes),
		kgo.MaxConcurrentFetches(l.fetches),
		// Small fetches under a tight budget must not wait for bytes
		// that will not come: the broker answers after this at most.
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
}

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

// txnTimeout is the transaction timeout of the transactional output. A
// streaming batch is written in one transaction, so this bounds how long one
// huge batch may take to arrive and merge (10 segments × 10,000,000 integers
// take about 10 s here); brokers cap it at transaction.max.timeout.ms
// (15 min by default).
const txnTimeout = 2 * time.Minute
