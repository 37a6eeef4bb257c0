package kafka

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
		return 0, fmt.Errorf("list topic %s: %w", topic, Why(err, nil, "DESCRIBE", "topic", topic))
	}
	t, ok := td[topic]
	if !ok || errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
		return 0, fmt.Errorf("topic %s: %w", topic, kerr.UnknownTopicOrPartition)
	}
	if t.Err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, Why(t.Err, nil, "DESCRIBE", "topic", topic))
	}
	return int32(len(t.Partitions)), nil
}

// EnsureTopic creates topic with partitions partitions if it is missing
// (deleting it first when recreate is set) and returns the partition count
// it has and whether it created it. It logs what it did on log.
func EnsureTopic(ctx context.Context, adm *kadm.Client, log *slog.Logger, topic string, partitions int32, recreate bool) (int32, bool, error) {
	return EnsureTopicWith(ctx, adm, log, topic, partitions, nil, recreate)
}

// EnsureTopicWith is EnsureTopic, creating the topic with configs.
func EnsureTopicWith(ctx context.Context, adm *kadm.Client, log *slog.Logger, topic string, partitions int32, configs map[string]*string, recreate bool) (int32, bool, error) {
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
	resp, err := adm.CreateTopic(ctx, partitions, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	err = Why(err, nil, "CREATE", "topic", topic)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		// Someone else won the race (another member of the group, say):
		// the metadata may not show the topic for a moment yet. The
		// client's cache would go on saying it is missing, as it was
		// found before the create, for its minimum age (250ms to 5s): a
		// request that asks for the authorized operations too is
		// answered by the brokers, not from the cache.
		fresh := kadm.WithAuthorizedOps(ctx)
		for {
			n, err := Partitions(fresh, adm, topic)
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

// TopicID returns topic's id, as hex; "" if the cluster gives topics no
// ids. A topic deleted and created again under the same name has a new
// id: what was read of the old one (offsets, output) means nothing for the
// new one.
func TopicID(ctx context.Context, adm *kadm.Client, topic string) (string, error) {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return "", fmt.Errorf("list topic %s: %w", topic, err)
	}
	t, ok := td[topic]
	if !ok || errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
		return "", fmt.Errorf("topic %s: %w", topic, kerr.UnknownTopicOrPartition)
	}
	if t.ID == (kadm.TopicID{}) {
		return "", nil
	}
	return hex.EncodeToString(t.ID[:]), nil
}

// MaxMessageBytes is the largest record batch the broker takes for topic
// (its max.message.bytes), and the default when it has none: what a
// record written to it may take at most.
func MaxMessageBytes(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err == nil && len(rcs) == 1 {
		err = rcs[0].Err
	}
	if err != nil {
		return 0, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	for _, c := range rcs[0].Configs {
		if c.Key == "max.message.bytes" && c.Value != nil {
			if n, err := strconv.Atoi(*c.Value); err == nil && n > 0 {
				return n, nil
			}
		}
	}
	return DefaultMaxMessageBytes, nil
}

// DefaultMaxMessageBytes is Kafka's default max.message.bytes.
const DefaultMaxMessageBytes = 1048588

// Copied returns the configs of a topic segmerge makes from one whose
// limit is maxMessageBytes (its max.message.bytes): a little more, so that
// it takes any record the input holds with the headers segmerge adds.
func Copied(maxMessageBytes int) map[string]*string {
	v := strconv.Itoa(min(maxMessageBytes+copiedSlack, 1<<30))
	return map[string]*string{"max.message.bytes": &v}
}

// copiedSlack is what a copied topic takes beyond its input's limit: the
// headers of a dead letter (see DeadLetters) or a forwarded record.
const copiedSlack = 4 << 10
