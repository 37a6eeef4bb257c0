package kafka

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Limits are the max.message.bytes of the topics a client writes, as the
// brokers said when each was made or found. Opt bounds every record batch
// the client sends to a topic by that topic's own limit, so that a broker
// never refuses a batch of records that each fit (MESSAGE_TOO_LARGE):
// several records of a topic share a batch, and the client's one bound for
// all topics would be too large for a topic with a smaller limit. Learn
// every topic before the client first writes it; one not learned gets
// kgo's default, 1,000,012 bytes, below Kafka's default limit. Safe for
// concurrent use.
type Limits struct {
	mu sync.Mutex
	m  map[string]int
}

// kgoDefaultBatch is kgo's default ProducerBatchMaxBytes.
const kgoDefaultBatch = 1000012

// Learn reads topic's max.message.bytes and keeps it.
func (l *Limits) Learn(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	n, err := MaxMessageBytes(ctx, adm, topic)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]int{}
	}
	l.m[topic] = n
	return n, nil
}

// Batch is the most a record batch for topic may take.
func (l *Limits) Batch(topic string) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.m[topic]
	if !ok {
		return kgoDefaultBatch
	}
	return int32(min(max(n, 512), 1<<30)) // kgo's range
}

// Room is what one record of topic may take, its key, value and headers:
// the topic's batch limit less what a batch adds around it.
func (l *Limits) Room(topic string) int { return int(l.Batch(topic)) - batchSlack }

// Opt is the client option that bounds record batches by topic.
func (l *Limits) Opt() kgo.Opt {
	return kgo.ProducerBatchMaxBytesFn(l.Batch)
}
