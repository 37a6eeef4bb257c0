package kafka

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// MinPartitionFetch is the least a fit (see fetchFit) cuts a partition's
// fetch to: 64 KiB, the budget's own floor.
const MinPartitionFetch = 64 << 10

// FetchRecords is about how many small records the consumer, stream and
// the repartition stage fetch of a partition at a time
// (GroupConfig.FitRecords): a poll over ten partitions still brings tens
// of thousands, and a fetch lands no more at once than the next steps
// work through while the data is fresh.
const FetchRecords = 5000

// batchOverhead is what a record batch takes on the wire beyond its
// records (the v2 batch header), which kgo's batch metrics leave out. An
// old message set's metrics include its overhead, which this then counts
// twice: a few bytes a batch.
const batchOverhead = 61

// FetchBoundsGiven, among a client's hooks (kgo.WithHooks), says that its
// options set the fetch bounds on purpose: a member keeps them and does
// not fit them (see GroupConfig.FitRecords). Props.Options adds it when
// fetch.max.bytes or max.partition.fetch.bytes is given.
type FetchBoundsGiven struct{}

// OnNewClient does nothing: kgo takes only hooks that implement a hook
// interface, and this one is called once a client.
func (FetchBoundsGiven) OnNewClient(*kgo.Client) {}

// fetchFit cuts a member's fetches of a partition to about records records
// once it has seen what a record takes on the wire, for records so small
// that the budget's partition share would fetch many more. The share is
// bytes, sized for what records cost held, and small compressed records
// fit many times more of themselves in it than large ones. The consumer,
// stream and the repartition stage do more work a record the more
// records each fetch lands at once (see the README's Benchmarks); records
// large enough that the share holds few of them are not cut, since fewer
// of those a fetch costs more round trips than it saves.
//
// The bound is never cut below twice the largest record batch the client
// has fetched: a broker fills a fetch's partitions in turn and, past the
// first partition that returned anything, gives nothing of a partition
// whose first batch is larger than its bound (so does Kafka, KIP-74), and
// that partition would starve. A producer that writes small records in large
// batches therefore keeps more of the share.
//
// It counts, from kgo's batch hook, the records and wire bytes of its
// topic's fetched batches, and the largest batch; fit, on the member's
// goroutine, sets the partition bound from them once enough records were
// seen since the last setting, and only when it moves by more than a
// quarter, so that a steady topic is set once.
type fetchFit struct {
	topic   string
	records int   // about how many records one partition's fetch should take
	share   int32 // the budget's partition share: never fetch more
	max     int32 // the fetch bound, kept as it is
	now     int32 // the partition bound in use

	// Since the last fit: records, and their wire bytes.
	seen, bytes atomic.Int64
	largest     atomic.Int64 // the largest batch's wire bytes since the client opened
}

// newFetchFit returns the fit cfg asks for, or nil.
func newFetchFit(cfg *GroupConfig) *fetchFit {
	if cfg.FitRecords <= 0 || cfg.PartitionBytes <= 0 {
		return nil
	}
	return &fetchFit{topic: cfg.Topic, records: cfg.FitRecords, share: cfg.PartitionBytes}
}

// keep returns f for cl, the client made with it, or nil if cl's options
// set the fetch bounds (see GroupConfig.FitRecords) or f is nil.
func (f *fetchFit) keep(cl *kgo.Client) *fetchFit {
	if f == nil {
		return nil
	}
	hooks, _ := cl.OptValue(kgo.WithHooks).([]kgo.Hook)
	for _, h := range hooks {
		if _, ok := h.(FetchBoundsGiven); ok {
			return nil
		}
	}
	f.now, _ = cl.OptValue(kgo.FetchMaxPartitionBytes).(int32)
	f.max, _ = cl.OptValue(kgo.FetchMaxBytes).(int32)
	if f.now != f.share || f.max <= 0 {
		return nil
	}
	return f
}

// OnFetchBatchRead counts a batch of the member's topic.
func (f *fetchFit) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.FetchBatchMetrics) {
	if topic != f.topic || m.NumRecords == 0 {
		return
	}
	b := int64(m.CompressedBytes) + batchOverhead
	f.seen.Add(int64(m.NumRecords))
	f.bytes.Add(b)
	for {
		l := f.largest.Load()
		if b <= l || f.largest.CompareAndSwap(l, b) {
			break
		}
	}
}

// want returns the partition bound for records of perRecord wire bytes in
// batches of at most largest.
func (f *fetchFit) want(perRecord float64, largest int64) int32 {
	w := max(perRecord*float64(f.records), 2*float64(largest))
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
	w := f.want(float64(b)/float64(n), f.largest.Load())
	if d := int64(w) - int64(f.now); d*4 <= int64(f.now) && -d*4 <= int64(f.now) {
		return 0
	}
	f.now = w
	cl.UpdateFetchMaxBytes(f.max, w)
	return w
}
