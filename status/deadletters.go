package status

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
)

// DeadLetters counts a dead-letter topic's records.
type DeadLetters struct {
	Topic  string `json:"topic"`
	Exists bool   `json:"exists"`
	// ByReason counts the group's dead letters by their segmerge.reason
	// header; Others counts those other groups sent (every group that
	// reads a topic shares its dead-letter topic).
	ByReason map[string]int64 `json:"by_reason"`
	Total    int64            `json:"total"`
	Others   int64            `json:"other_groups"`
	// Complete is false when the read stopped (ctx done) before the
	// topic's committed end: the counts are of what was read.
	Complete bool `json:"complete"`
}

// readBytes bounds a fetch of the dead-letter topic: the read holds about
// this much at a time, whatever the topic holds.
const readBytes = 8 << 20

// countDeadLetters reads topic from its start to its last stable offset
// (read_committed: what aborted transactions wrote is not counted), and
// counts group's records by reason.
func countDeadLetters(ctx context.Context, cluster kafka.Cluster, adm *kadm.Client, topic, group string) (*DeadLetters, error) {
	d := &DeadLetters{Topic: topic, ByReason: map[string]int64{}}
	starts, err := kafka.StartOffsets(ctx, adm, topic)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		d.Complete = true // no topic: nothing was ever refused
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: %w", topic, kafka.Why(err, nil, "DESCRIBE", "topic", topic))
	}
	d.Exists = true
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("dead-letter topic %s: list offsets: %w", topic, err)
	}
	// end is where the read of each partition stops; left holds the
	// partitions still short of it.
	end, left, from := map[int32]int64{}, map[int32]bool{}, map[int32]kgo.Offset{}
	stable.Each(func(o kadm.ListedOffset) {
		if o.Offset > starts[o.Partition] {
			end[o.Partition], left[o.Partition] = o.Offset, true
			from[o.Partition] = kgo.NewOffset().At(starts[o.Partition])
		}
	})
	if len(left) == 0 {
		d.Complete = true
		return d, nil
	}
	// Control records are kept so that the position passes the commit
	// and abort markers, which sit at the end of a transaction's offsets.
	cl, err := cluster.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxBytes(readBytes), kgo.FetchMaxPartitionBytes(readBytes/8))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return d, nil
		}
		if err := fs.Err0(); err != nil {
			return nil, fmt.Errorf("read dead-letter topic %s: %w", topic, kafka.Why(err, cl, "READ", "topic", topic))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= end[r.Partition] {
				delete(left, r.Partition)
			}
			if r.Attrs.IsControl() || r.Offset >= end[r.Partition] {
				return
			}
			reason, from := "", ""
			for _, h := range r.Headers {
				switch h.Key {
				case kafka.HeaderReason:
					reason = string(h.Value)
				case kafka.HeaderGroup:
					from = string(h.Value)
				}
			}
			if from != group {
				d.Others++
				return
			}
			d.ByReason[reason]++
			d.Total++
		})
	}
	d.Complete = true
	return d, nil
}

// Reasons returns the reasons counted, most frequent first.
func (d *DeadLetters) Reasons() []string {
	rs := slices.Sorted(maps.Keys(d.ByReason))
	slices.SortStableFunc(rs, func(a, b string) int { return int(d.ByReason[b] - d.ByReason[a]) })
	return rs
}
