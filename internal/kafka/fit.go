package kafka

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// MinPartitionFetch is the least a fit (see fetchFit) cuts a partition's
// fetch to: 64 KiB, the budget's own floor.
const MinPartitionFetch = 64 << 10

// fetchFit cuts a member's fetches of a partition to about records records
// once it has seen what a record takes on the wire, for records so small
// that the budget's partition share would fetch many more. The share is
// bytes, sized for what records cost held, and small compressed records
// fit far more of themselves in it than large ones: the original
// workload's 73-byte records take about 25 bytes each under snappy and 17
// under zstd, so the default share of about 266 KiB fetches 11,000 and
// 15,000 of them a partition. The consumer does more work a record the
// more records each fetch lands at once (see the README's Throughput);
// records large enough that the share holds few of them are not cut,
// since fewer of those a fetch costs more round trips than it saves.
//
// It counts, from kgo's batch hook, the records and wire bytes of its
// topic's fetched batches; fit, on the member's goroutine, sets the
// partition bound from them once enough records were seen since the last
// setting, and only when it moves by more than a quarter, so that a
// steady topic is set once.
type fetchFit struct {
	topic   string
	records int   // about how many records one partition's fetch should take
	share   int32 // the budget's partition share: never fetch more
	max     int32 // the fetch bound, kept as it is
	now     int32 // the partition bound in use

	seen, bytes atomic.Int64 // records and their wire bytes since the last fit
}

// OnFetchBatchRead counts a batch of the member's topic.
func (f *fetchFit) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.FetchBatchMetrics) {
	if topic != f.topic || m.NumRecords == 0 {
		return
	}
	f.seen.Add(int64(m.NumRecords))
	f.bytes.Add(int64(m.CompressedBytes))
}

// want returns the partition bound for records of perRecord wire bytes.
func (f *fetchFit) want(perRecord float64) int32 {
	w := perRecord * float64(f.records)
	switch {
	case w >= float64(f.share):
		return f.share
	case w < MinPartitionFetch:
		return min(MinPartitionFetch, f.share)
	}
	return int32(w)
}

// fit sets cl's partition bound from the records seen, and returns the new
// bound, or 0 if it left it as it was.
func (f *fetchFit) fit(cl *kgo.Client) int32 {
	if f.seen.Load() < int64(f.records) {
		return 0
	}
	n, b := f.seen.Swap(0), f.bytes.Swap(0)
	w := f.want(float64(b) / float64(n))
	if d := int64(w) - int64(f.now); d*4 <= int64(f.now) && -d*4 <= int64(f.now) {
		return 0
	}
	f.now = w
	cl.UpdateFetchMaxBytes(f.max, w)
	return w
}
