// Package kafka holds what segmerge's producer, consumer and verifier share
// about talking to brokers: client options, topic creation, offsets. Only
// packages that talk to brokers import it (and franz-go).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options returns segmerge's common client options for brokers.
func Options(brokers []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("segmerge"),
		// Fail a request to an unreachable cluster in bounded time
		// instead of retrying forever.
		kgo.RetryTimeout(30 * time.Second),
	}
}

// Client returns a franz-go client for brokers with segmerge's common
// options plus opts.
func Client(brokers []string, opts ...kgo.Opt) (*kgo.Client, error) {
	if len(brokers) == 0 {
		return nil, errors.New("no brokers given")
	}
	cl, err := kgo.NewClient(append(Options(brokers), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// Partitions returns topic's partition count, or an error wrapping
// kerr.UnknownTopicOrPartition if it does not exist.
func Partitions(ctx context.Context, adm *kadm.Client, topic string) (int32, error) {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("list topic %s: %w", topic, err)
	}
	t, ok := td[topic]
	if !ok || errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
		return 0, fmt.Errorf("topic %s: %w", topic, kerr.UnknownTopicOrPartition)
	}
	if t.Err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, t.Err)
	}
	return int32(len(t.Partitions)), nil
}

// EnsureTopic creates topic with partitions partitions if it is missing
// (deleting it first when recreate is set) and returns the partition count
// it has and whether it created it. It logs what it did on log.
func EnsureTopic(ctx context.Context, adm *kadm.Client, log *slog.Logger, topic string, partitions int32, recreate bool) (int32, bool, error) {
	n, created, err := ensureTopic(ctx, adm, log, topic, partitions, recreate)
	if err != nil {
		return 0, false, err
	}
	return n, created, nil
}

func ensureTopic(ctx context.Context, adm *kadm.Client, log *slog.Logger, topic string, partitions int32, recreate bool) (int32, bool, error) {
	n, err := Partitions(ctx, adm, topic)
	switch {
	case err == nil && !recreate:
		return n, false, nil
	case err == nil && recreate:
		if _, err := adm.DeleteTopic(ctx, topic); err != nil {
			return 0, false, fmt.Errorf("delete topic %s: %w", topic, err)
		}
		log.Info("deleted topic", "topic", topic)
		// Deletion is asynchronous on a real cluster: wait until the
		// topic is gone before creating it again.
		for {
			if _, err := Partitions(ctx, adm, topic); errors.Is(err, kerr.UnknownTopicOrPartition) {
				break
			}
			select {
			case <-ctx.Done():
				return 0, false, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	case !errors.Is(err, kerr.UnknownTopicOrPartition):
		return 0, false, err
	}
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		// Someone else won the race (another member of the group, say):
		// the metadata may not show the topic for a moment yet.
		for {
			n, err := Partitions(ctx, adm, topic)
			if !errors.Is(err, kerr.UnknownTopicOrPartition) {
				return n, false, err
			}
			select {
			case <-ctx.Done():
				return 0, false, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if err != nil {
		return 0, false, fmt.Errorf("create topic %s: %w", topic, err)
	}
	log.Info("created topic", "topic", topic, "partitions", partitions)
	return partitions, true, nil
}

// Offsets is an offset per partition of one topic.
type Offsets map[int32]int64

// EndOffsets returns the end (next to be written) offset of every partition
// of topic.
func EndOffsets(ctx context.Context, adm *kadm.Client, topic string) (Offsets, error) {
	return listed(adm.ListEndOffsets(ctx, topic))
}

// StartOffsets returns the first readable offset of every partition.
func StartOffsets(ctx context.Context, adm *kadm.Client, topic string) (Offsets, error) {
	return listed(adm.ListStartOffsets(ctx, topic))
}

func listed(l kadm.ListedOffsets, err error) (Offsets, error) {
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	out := Offsets{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// Committed returns group's committed offsets for topic (partitions without
// a commit are absent). It asks for stable offsets (KIP-447): while a
// transaction that commits offsets for the group is still open, the broker
// answers UNSTABLE_OFFSET_COMMIT, and Committed asks again until the
// transaction ends (the broker aborts one left open by a crashed process at
// its transaction timeout) or ctx is done. An offset read mid-transaction
// would be the one before it, and a member starting there would think it
// starts behind where its fetches really begin.
func Committed(ctx context.Context, adm *kadm.Client, group, topic string) (Offsets, error) {
	for {
		resp, err := adm.FetchOffsets(kadm.RequireStable(ctx), group)
		if err != nil {
			return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
		}
		out := Offsets{}
		unstable := false
		resp.Each(func(o kadm.OffsetResponse) {
			switch {
			case o.Topic != topic:
			case errors.Is(o.Err, kerr.UnstableOffsetCommit):
				unstable = true
			case o.Err == nil && o.At >= 0:
				out[o.Partition] = o.At
			}
		})
		if !unstable {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fetch offsets of group %s: a transaction is still committing offsets: %w", group, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

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
