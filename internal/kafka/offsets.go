package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

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
// its transaction timeout) or ctx is done; log, if not nil, hears once of a
// wait past a second. An offset read mid-transaction would be the one
// before it, and a member starting there would think it starts behind
// where its fetches really begin.
func Committed(ctx context.Context, adm *kadm.Client, group, topic string, log *slog.Logger) (Offsets, error) {
	cs, err := Commits(ctx, adm, group, topic, log)
	if err != nil {
		return nil, err
	}
	out := Offsets{}
	for p, c := range cs {
		out[p] = c.Offset
	}
	return out, nil
}

// Commit is a committed offset and the metadata string committed with it.
type Commit struct {
	Offset   int64
	Metadata string
}

// Commits is Committed with each offset's metadata.
func Commits(ctx context.Context, adm *kadm.Client, group, topic string, log *slog.Logger) (map[int32]Commit, error) {
	return commits(kadm.RequireStable(ctx), adm, group, topic, log)
}

// LastCommits is Commits without the wait: the offsets of the group's last
// committed transaction (or plain commit), whatever transaction is open.
// For a check that any commit of the group will do, made before this
// process's transactional id fences the transaction a crashed process of
// the group left open: Commits would wait for it until the broker aborts it
// at its timeout, 20 s by default.
func LastCommits(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]Commit, error) {
	return commits(ctx, adm, group, topic, nil)
}

func commits(ctx context.Context, adm *kadm.Client, group, topic string, log *slog.Logger) (map[int32]Commit, error) {
	start, told := time.Now(), log == nil
	for {
		resp, err := adm.FetchOffsets(ctx, group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			return map[int32]Commit{}, nil // a group never seen has no commits
		}
		if err != nil {
			return nil, fmt.Errorf("fetch offsets of group %s: %w", group, Why(err, nil, "DESCRIBE", "group", group))
		}
		out := map[int32]Commit{}
		unstable := false
		resp.Each(func(o kadm.OffsetResponse) {
			switch {
			case o.Topic != topic:
			case errors.Is(o.Err, kerr.UnstableOffsetCommit):
				unstable = true
			case o.Err == nil && o.At >= 0:
				out[o.Partition] = Commit{Offset: o.At, Metadata: o.Metadata}
			}
		})
		if !unstable {
			return out, nil
		}
		if !told && time.Since(start) > time.Second {
			told = true
			log.Info("waiting for a transaction that holds offsets of the group to end: a running process ends its own at its next commit, and the broker aborts a crashed process's at its transaction timeout",
				"group", group, "topic", topic)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fetch offsets of group %s: a transaction is still committing offsets: %w", group, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
