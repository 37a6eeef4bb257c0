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

// WaitTopic returns topic's partition count, waiting for the topic to be
// created unless mustExist (then a missing topic is an error). It returns
// 0 and no error if ctx ends first.
func WaitTopic(ctx context.Context, adm *kadm.Client, log *slog.Logger, topic string, mustExist bool) (int32, error) {
	logged := false
	for {
		n, err := Partitions(ctx, adm, topic)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return 0, err
		}
		if mustExist {
			return 0, fmt.Errorf("topic %s does not exist (nothing to read: produce to it first, or check the topic's name)", topic)
		}
		if !logged {
			log.Info("waiting for the topic to be created", "topic", topic)
			logged = true
		}
		select {
		case <-ctx.Done():
			return 0, nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Input opens an admin client of cluster and waits for the input topic as
// WaitTopic does. It returns the client, what closes it, and the topic's
// partition count: 0, with no error, if ctx ended first.
func Input(ctx context.Context, cluster Cluster, log *slog.Logger, topic string, mustExist bool) (*kadm.Client, func(), int32, error) {
	// kadm answers from the client's metadata cache; a short minimum age
	// lets a stage started before its topic see it soon after it is
	// created (kgo's default keeps "missing" for 5s).
	cl, err := cluster.Client(kgo.MetadataMinAge(250 * time.Millisecond))
	if err != nil {
		return nil, nil, 0, err
	}
	adm := kadm.NewClient(cl)
	parts, err := WaitTopic(ctx, adm, log, topic, mustExist)
	if err != nil || parts == 0 {
		cl.Close()
		return nil, nil, 0, err
	}
	return adm, cl.Close, parts, nil
}
