package consumer

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/consumer/internal/ledger"
	"github.com/segmerge/segmerge/internal/kafka"
)

// The metadata of every offset the merge stage commits says the
// partition's floor (see package ledger), so that a restart can tell a
// replayed batch from one it has not written, and the input topic's id, so
// that it can tell a topic deleted and created again under the same name:
// "segmerge:floor=12,topic=5f0c...".
const (
	metaPrefix = "segmerge:"
	metaFloor  = "floor="
	metaTopic  = "topic="
)

// commits turns the ledger's marks into what the member commits.
func (e *engine) commits(marks map[int32]ledger.Mark) map[int32]kafka.Commit {
	out := make(map[int32]kafka.Commit, len(marks))
	for p, m := range marks {
		meta := metaPrefix + metaFloor + strconv.FormatInt(m.Floor, 10)
		if e.topicID != "" {
			meta += "," + metaTopic + e.topicID
		}
		out[p] = kafka.Commit{Offset: m.Offset, Metadata: meta}
	}
	return out
}

// CommitFloor returns the floor the metadata of an offset the merge stage
// committed says: every batch below it is done on that partition. ok is
// false for a commit without one (made by another tool, or by an older
// segmerge).
func CommitFloor(metadata string) (floor int64, ok bool) {
	m := parseMeta(metadata)
	return m.floor, m.hasFloor
}

// commitMeta is what a commit's metadata says: the floor, if it holds one
// (a commit by another tool, or by an older segmerge, does not), and the
// topic's id ("" if not said).
type commitMeta struct {
	floor    int64
	hasFloor bool
	topicID  string
}

func parseMeta(meta string) commitMeta {
	var m commitMeta
	rest, ok := strings.CutPrefix(meta, metaPrefix)
	if !ok {
		return m
	}
	for _, kv := range strings.Split(rest, ",") {
		switch {
		case strings.HasPrefix(kv, metaFloor):
			f, err := strconv.ParseInt(kv[len(metaFloor):], 10, 64)
			m.floor, m.hasFloor = f, err == nil && f >= 0
		case strings.HasPrefix(kv, metaTopic):
			m.topicID = kv[len(metaTopic):]
		}
	}
	return m
}

// checkCommits refuses to start from the group's commits if they belong to
// an earlier topic of the same name (see kafka.RecreatedError), and says so
// when -e on a group with no commits would read nothing.
func (e *engine) checkCommits(ctx context.Context) error {
	// The last commits, not stable ones: this runs before the member's
	// transactional id fences what a crashed run left open (see
	// kafka.LastCommits), and the topic's id in any commit will do.
	cs, err := kafka.LastCommits(ctx, e.adm, e.cfg.Group, e.cfg.Topic)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if m := parseMeta(c.Metadata); m.topicID != "" && e.topicID != "" && m.topicID != e.topicID {
			return &kafka.RecreatedError{Topic: e.cfg.Topic, Group: e.cfg.Group, Was: m.topicID, Now: e.topicID}
		}
	}
	if len(cs) == 0 && e.cfg.ExitAtEnd && !e.cfg.FromBeginning {
		e.cfg.Log.Warn("the group has no commits on this topic, so it starts at the end of every partition, and with {ExitAtEnd} there is nothing to read: set {FromBeginning} to read the topic from its start",
			"group", e.cfg.Group, "topic", e.cfg.Topic)
	}
	return nil
}

// deadLetter is a refused record waiting for the commit that passes it
// (see ledger.Dead).
type deadLetter struct {
	r           *kgo.Record
	reason, msg string
}

// dead holds r's dead letter until a commit passes it, charging it to the
// memory the engine holds.
func (e *engine) dead(r *kgo.Record, reason, msg string) {
	e.led.Dead(r.Partition, r.Offset, recordOverhead+len(r.Key)+len(r.Value), deadLetter{r, reason, msg})
}

// commitPoint makes everything written durable and returns what m may
// commit; the dead letters the commit passes are produced, and flushed,
// first, so that they go out with it. It runs under e.mu.
func (e *engine) commitPoint(ctx context.Context, m *member) (map[int32]ledger.Mark, error) {
	if err := e.sync(ctx); err != nil {
		return nil, err
	}
	marks := m.offsets(nil)
	sent := false
	var serr error
	e.led.TakeDead(marks, func(item any) {
		d := item.(deadLetter)
		if err := e.dlq.Send(ctx, d.r, d.reason, d.msg); err != nil && serr == nil {
			serr = err
		}
		e.deadSent[d.reason]++
		sent = true
	})
	if serr != nil {
		return nil, serr
	}
	if sent {
		if err := e.prod.Flush(ctx); err != nil {
			return nil, fmt.Errorf("flush dead letters: %w", err)
		}
	}
	return marks, nil
}

// badRecord logs a refused record and holds its dead letter.
func (e *engine) badRecord(r *kgo.Record, reason, msg string) {
	e.cfg.Log.Warn("bad record", "source", kafka.Source(r), "reason", reason, "err", msg)
	e.dead(r, reason, msg)
}
