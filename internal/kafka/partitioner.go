package kafka

import (
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BatchPartitioner sends the records of topics to partition b mod n, where
// b is the record's key read as a batch id and n the topic's partition
// count, as the batch layout places them; a key that is not a batch id, and
// every record of other topics, is placed by Kafka's default key hash.
func BatchPartitioner(topics ...string) kgo.Partitioner {
	return batchPartitioner{topics: topics, fallback: kgo.StickyKeyPartitioner(nil)}
}

type batchPartitioner struct {
	topics   []string
	fallback kgo.Partitioner
}

func (b batchPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	if slices.Contains(b.topics, t) {
		return byBatchID{fallback: b.fallback.ForTopic(t)}
	}
	return b.fallback.ForTopic(t)
}

type byBatchID struct{ fallback kgo.TopicPartitioner }

func (byBatchID) RequiresConsistency(*kgo.Record) bool { return true }

func (p byBatchID) Partition(r *kgo.Record, n int) int {
	if id, err := strconv.ParseInt(string(r.Key), 10, 64); err == nil && id >= 0 {
		return int(id % int64(n))
	}
	return p.fallback.Partition(r, n)
}
