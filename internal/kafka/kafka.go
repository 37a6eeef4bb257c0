// Package kafka holds what segmerge's producer, consumer and verifier share
// about talking to brokers: client options, topic creation, offsets. Only
// packages that talk to brokers import it (and franz-go).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	if errors.Is(err, kerr.TopicAlreadyExists) { // someone else won the race
		n, err := Partitions(ctx, adm, topic)
		return n, false, err
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
// a commit are absent).
func Committed(ctx context.Context, adm *kadm.Client, group, topic string) (Offsets, error) {
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	out := Offsets{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}
