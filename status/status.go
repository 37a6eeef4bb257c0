// Package status answers "where is this group, and what went to the
// dead-letter topic?" for a segmerge consumer group: per partition the
// committed offset, the end offset and the lag; the group's state, members
// and assignment; the lowest batch not yet committed, from the floor the
// merge stage commits with its offsets; and the dead letters the group
// sent, by reason. It reads, and never joins the group or commits.
package status

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
)

// Config says what to describe.
type Config struct {
	Cluster kafka.Cluster
	Group   string
	// Topic limits the report to one input topic; "" reports every topic
	// the group commits offsets for or is assigned.
	Topic string
	// DeadLetters, if set, reads each topic's dead-letter topic
	// (<topic>.dlq) whole, read_committed, to count the group's dead
	// letters by reason: a read as long as that topic.
	DeadLetters bool
}

// Report is a group's status.
type Report struct {
	Group    string   `json:"group"`
	State    string   `json:"state"`    // Stable, Empty, PreparingRebalance, Dead...
	Protocol string   `json:"protocol"` // the partition assignor
	Members  []Member `json:"members"`
	Topics   []Topic  `json:"topics"`
}

// Member is one member of the group.
type Member struct {
	ID       string             `json:"id"`
	ClientID string             `json:"client_id"`
	Host     string             `json:"host"`
	Assigned map[string][]int32 `json:"assigned"` // partitions by topic
}

// Topic is the group's standing on one input topic.
type Topic struct {
	Name       string      `json:"topic"`
	Partitions []Partition `json:"partitions"`
	// Lag is the records not yet committed, over partitions with a
	// commit; Uncommitted counts the partitions without one.
	Lag         int64 `json:"lag"`
	Uncommitted int   `json:"uncommitted_partitions"`
	// LowestBatch is the lowest batch id not yet committed, when every
	// partition's commit says its floor (HasLowest).
	LowestBatch int64 `json:"lowest_batch_not_committed"`
	HasLowest   bool  `json:"has_lowest_batch"`
	// DeadLetters, when read (Config.DeadLetters).
	DeadLetters *DeadLetters `json:"dead_letters,omitempty"`
}

// Partition is one partition of an input topic.
type Partition struct {
	Partition int32 `json:"partition"`
	// Committed is the group's committed offset, -1 if it has none.
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
	// Lag is End less Committed; -1 without a commit.
	Lag int64 `json:"lag"`
	// Floor is the lowest batch id not yet done on this partition, as
	// the commit's metadata says; -1 if it says none.
	Floor  int64  `json:"floor"`
	Member string `json:"member,omitempty"` // the member assigned it, if any
}

// Read describes cfg.Group. A group with no members and no commits is an
// error that says so.
func Read(ctx context.Context, cfg Config) (*Report, error) {
	cl, err := cfg.Cluster.Client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	rep := &Report{Group: cfg.Group}
	owner, err := rep.describe(ctx, adm)
	if err != nil {
		return nil, err
	}
	offs, err := adm.FetchOffsets(ctx, cfg.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", cfg.Group, kafka.Why(err, cl, "DESCRIBE", "group", cfg.Group))
	}
	topics := map[string]bool{}
	if cfg.Topic != "" {
		topics[cfg.Topic] = true
	} else {
		offs.Each(func(o kadm.OffsetResponse) { topics[o.Topic] = true })
		for t := range owner {
			topics[t] = true
		}
	}
	if len(topics) == 0 {
		return nil, fmt.Errorf("group %s has no members and no committed offsets: is it the group the consumer ran with (-g)?", cfg.Group)
	}
	for _, name := range slices.Sorted(maps.Keys(topics)) {
		t, err := topic(ctx, adm, name, offs, owner[name])
		if err != nil {
			return nil, err
		}
		if cfg.DeadLetters {
			if t.DeadLetters, err = countDeadLetters(ctx, cfg.Cluster, adm, name+".dlq", cfg.Group); err != nil {
				return nil, err
			}
		}
		rep.Topics = append(rep.Topics, t)
	}
	return rep, nil
}

// describe fills in the group's state and members, and returns who owns
// each partition, by topic.
func (rep *Report) describe(ctx context.Context, adm *kadm.Client) (map[string]map[int32]string, error) {
	gs, err := adm.DescribeGroups(ctx, rep.Group)
	if err == nil {
		_, err = gs.On(rep.Group, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", rep.Group, kafka.Why(err, nil, "DESCRIBE", "group", rep.Group))
	}
	g := gs[rep.Group]
	if g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("describe group %s: %w", rep.Group, kafka.Why(g.Err, nil, "DESCRIBE", "group", rep.Group))
	}
	rep.State, rep.Protocol = g.State, g.Protocol
	owner := map[string]map[int32]string{}
	for _, m := range g.Members {
		mem := Member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				ps := slices.Sorted(slices.Values(t.Partitions))
				mem.Assigned[t.Topic] = ps
				if owner[t.Topic] == nil {
					owner[t.Topic] = map[int32]string{}
				}
				for _, p := range ps {
					owner[t.Topic][p] = m.MemberID
				}
			}
		}
		rep.Members = append(rep.Members, mem)
	}
	sort.Slice(rep.Members, func(i, j int) bool { return rep.Members[i].ID < rep.Members[j].ID })
	return owner, nil
}

// topic is the group's standing on topic name.
func topic(ctx context.Context, adm *kadm.Client, name string, offs kadm.OffsetResponses, owner map[int32]string) (Topic, error) {
	t := Topic{Name: name, LowestBatch: -1}
	ends, err := kafka.EndOffsets(ctx, adm, name)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return t, fmt.Errorf("topic %s does not exist", name)
	}
	if err != nil {
		return t, fmt.Errorf("topic %s: %w", name, kafka.Why(err, nil, "DESCRIBE", "topic", name))
	}
	allFloors := true
	for _, p := range slices.Sorted(maps.Keys(ends)) {
		pt := Partition{Partition: p, Committed: -1, End: ends[p], Lag: -1, Floor: -1, Member: owner[p]}
		if o, ok := offs.Lookup(name, p); ok && o.Err == nil && o.At >= 0 {
			pt.Committed, pt.Lag = o.At, max(ends[p]-o.At, 0)
			t.Lag += pt.Lag
			if f, ok := consumer.CommitFloor(o.Metadata); ok {
				pt.Floor = f
			}
		} else {
			t.Uncommitted++
		}
		if pt.Floor < 0 {
			allFloors = false
		} else if t.LowestBatch < 0 || pt.Floor < t.LowestBatch {
			t.LowestBatch = pt.Floor
		}
		t.Partitions = append(t.Partitions, pt)
	}
	t.HasLowest = allFloors && len(t.Partitions) > 0
	if !t.HasLowest {
		t.LowestBatch = -1
	}
	return t, nil
}
